import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { QueryTypes, type Sequelize, UniqueConstraintError } from 'sequelize';
import { openDatabase, type Database } from '../../server/storage/database.ts';

/** Sequelize on node:sqlite (server/storage/sqlite-driver.ts), as server/storage/database.ts opens it. */
describe('SQLite driver for Sequelize (node:sqlite)', () => {
  let db: Database;
  let sequelize: Sequelize;
  let file: string;
  before(async () => {
    file = join(mkdtempSync(join(tmpdir(), 'stepgate-driver-')), 'db.sqlite');
    db = await openDatabase(`sqlite:${file}`);
    sequelize = db.sequelize;
    await sequelize.query('CREATE TABLE t (k TEXT PRIMARY KEY, flag INTEGER, n INTEGER)');
  });
  after(() => db.close());

  it('binds booleans as sqlite3 did (1 and 0), by name and by position, and reports rows and changes', async () => {
    await sequelize.query('INSERT INTO t (k, flag, n) VALUES ($k, $flag, $n)', { bind: { k: 'a', flag: true, n: 1 } });
    await sequelize.query('INSERT INTO t (k, flag, n) VALUES ($1, $2, $3)', { bind: ['b', false, null] });
    const rows = await sequelize.query('SELECT k, flag, n FROM t ORDER BY k', { type: QueryTypes.SELECT });
    assert.deepEqual(rows, [{ k: 'a', flag: 1, n: 1 }, { k: 'b', flag: 0, n: null }]);
    const [, changed] = await sequelize.query('UPDATE t SET n = 2', { type: QueryTypes.UPDATE }) as [unknown, number];
    assert.equal(changed, 2);
  });

  it('a unique violation is Sequelize\'s UniqueConstraintError, at the first try', async () => {
    let tries = 0;
    const count = () => { tries++; };
    sequelize.addHook('beforeQuery', 'count', count);
    try {
      await assert.rejects(sequelize.query("INSERT INTO t (k) VALUES ('a')"), (err: unknown) => err instanceof UniqueConstraintError && /UNIQUE constraint failed: t\.k/.test(String((err as UniqueConstraintError).parent?.message)));
    } finally {
      sequelize.removeHook('beforeQuery', 'count');
    }
    assert.equal(tries, 1);
  });

  it('a statement that meets another process\'s write lock is tried again until it is free, and the event loop runs meanwhile', async () => {
    // the other process holds the write lock for 300 ms
    const holder = spawn(process.execPath, ['-e', `
      const { DatabaseSync } = require('node:sqlite');
      const db = new DatabaseSync(${JSON.stringify(file)});
      db.exec('BEGIN IMMEDIATE');
      process.stdout.write('locked\\n');
      const until = Date.now() + 300;
      while (Date.now() < until);
      db.exec('COMMIT');
    `], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => holder.stdout.once('data', () => resolve()));
    let ticks = 0;
    const timer = setInterval(() => ticks++, 10);
    const began = Date.now();
    try {
      await sequelize.query("INSERT INTO t (k) VALUES ('c')");
    } finally {
      clearInterval(timer);
    }
    assert.ok(Date.now() - began >= 100, 'it waited for the lock');
    assert.ok(ticks >= 5, `timers ran while it waited (${ticks})`);
    const [row] = await sequelize.query("SELECT k FROM t WHERE k = 'c'", { type: QueryTypes.SELECT });
    assert.deepEqual(row, { k: 'c' });
  });
});
