import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { openDatabase, type Database } from '../../server/storage/database.ts';

/**
 * Sequelize (sqlite3's copy of SQLite) and the hot path (node:sqlite's copy) share one file
 * in one process, where SQLite's POSIX locks do not exclude each other: without the turns
 * of server/storage/statements.ts a write of one made while the other's transaction was
 * open was silently lost (seen in CI as a user created and then not found). The other
 * direction (a Sequelize statement while the hot path's transaction is open) depends on
 * the thread pool's timing and did not lose a write in 20 tries here, so it has no test;
 * the same turn holds it back.
 */
describe('SQLite: Sequelize and the hot path take turns on the file', () => {
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

  // Without the turns being the file's, each of these transactions failed with SQLITE_BUSY
  // (its snapshot went stale under the other Database's hot path); with transactions that
  // take the write lock as they begin but per-Database turns, none failed and about a
  // tenth of the hot path's rows were silently lost.
  it('a second Database on the file in this process (the CLI run beside a broker) takes the same turns: no write fails or is lost', async () => {
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
