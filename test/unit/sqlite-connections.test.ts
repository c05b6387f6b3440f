import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { openDatabase, type Database } from '../../server/storage/database.ts';

/**
 * One process reaches a SQLite file through several connections: the hot path's
 * (server/storage/statements.ts) and Sequelize's (transactions, admin changes), all on
 * node:sqlite (server/storage/sqlite-driver.ts), none of which waits for a lock inside
 * SQLite. These hold them to it: a write is never lost, a transaction of the process is
 * never starved by the hot path's stream of writes, nor fails because another process
 * writes. (When Sequelize ran on the sqlite3 package's own copy of SQLite, whose locks do
 * not see node:sqlite's within one process, the first lost writes: seen in CI as a user
 * created and then not found.)
 */
describe('SQLite: the connections of one process to one file', () => {
  let db: Database;
  let url: string;
  before(async () => {
    url = `sqlite:${join(mkdtempSync(join(tmpdir(), 'stepgate-turns-')), 'db.sqlite')}`;
    db = await openDatabase(url);
  });
  after(async () => db.close());

  const insert = 'INSERT INTO login_failures (key, failures, lockouts, first_failure_at) VALUES (:key, 1, 0, 0)';
  const keys = async (prefix: string) => (await db.select<{ key: string }>('SELECT key FROM login_failures WHERE key LIKE :p ORDER BY key', { p: `${prefix}%` })).map((r) => r.key);

  it('a hot-path write made during a Sequelize transaction waits for it: both writes are kept', async () => {
    for (let i = 0; i < 5; i++) {
      let hot: Promise<number> | undefined;
      await db.transaction(async (transaction) => {
        await db.change(insert, { key: `b${i}-transaction` }, transaction);
        hot = db.change(insert, { key: `b${i}-hot` });
        // the hot path's write is held back while the transaction is under way
        await new Promise((resolve) => setTimeout(resolve, 20));
        assert.deepEqual(await keys(`b${i}-hot`), [], 'not written inside the transaction');
      });
      assert.equal(await hot, 1);
      assert.deepEqual(await keys(`b${i}-`), [`b${i}-hot`, `b${i}-transaction`]);
    }
  });

  /** A transaction as the management service runs them: it reads, then writes. */
  const readThenWrite = (on: Database, key: string) => on.transaction(async (transaction) => {
    await on.select('SELECT count(*) AS n FROM login_failures', {}, transaction);
    await new Promise((resolve) => setTimeout(resolve, 2));
    await on.change(insert, { key }, transaction);
  });
  const count = async (prefix: string) => Number((await db.select<{ n: number }>('SELECT count(*) AS n FROM login_failures WHERE key LIKE :p', { p: `${prefix}%` }))[0]!.n);

  // Unless the hot path gives way to a Sequelize statement waiting for the lock
  // (lockWanted in server/storage/sqlite-driver.ts), the first transaction here failed
  // with SQLITE_BUSY after 5 s: the hot path had retaken the lock at every try.
  it('a second Database on the file in this process (the CLI run beside a broker) while the first writes without pause: no write fails or is lost', async () => {
    const second = await openDatabase(url);
    try {
      let stop = false;
      let written = 0;
      const hot = (async () => {
        while (!stop) await db.change(insert, { key: `c-hot-${written++}` });
      })();
      for (let i = 0; i < 10; i++) {
        await readThenWrite(second, `c-transaction-${i}`);
        // let the hot path write between the transactions
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      stop = true;
      await hot;
      assert.ok(written > 10, `the hot path wrote meanwhile (${written})`);
      assert.equal(await count('c-transaction-'), 10);
      assert.equal(await count('c-hot-'), written);
    } finally {
      await second.close();
    }
  });

  // Failed with SQLITE_BUSY (the stale snapshot) while transactions began deferred.
  it('while another process writes, a transaction that reads and then writes waits for the lock instead of failing', async () => {
    const file = url.slice('sqlite:'.length);
    const writer = spawn(process.execPath, ['-e', `
      const { DatabaseSync } = require('node:sqlite');
      const db = new DatabaseSync(${JSON.stringify(file)}, { timeout: 5000 });
      const insert = db.prepare("INSERT INTO login_failures (key, failures, lockouts, first_failure_at) VALUES (?, 1, 0, 0)");
      let n = 0;
      process.stdout.write('started\\n');
      const end = Date.now() + 1500;
      while (Date.now() < end) insert.run('d-other-' + n++);
      process.stdout.write(n + '\\n');
    `], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    const exited = new Promise<number | null>((resolve) => writer.on('exit', resolve));
    const started = new Promise<void>((resolve) => {
      writer.stdout.on('data', (chunk: Buffer) => {
        out += chunk;
        if (out.includes('started')) resolve();
      });
      void exited.then(() => resolve());
    });
    await started;
    for (let i = 0; i < 10; i++) await readThenWrite(db, `d-transaction-${i}`);
    assert.equal(await exited, 0);
    const other = Number(out.split('\n')[1]);
    assert.ok(other > 0);
    assert.equal(await count('d-transaction-'), 10);
    assert.equal(await count('d-other-'), other);
  });
});
