import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { openDatabase, type Database } from '../../server/storage/database.ts';
import { scopeRequest } from '../../server/storage/request-reads.ts';

/**
 * SQLite within a request: a write is told its outcome as soon as its statement has run,
 * and the request's answer waits for the COMMIT (server/storage/statements.ts). Watched
 * from a second connection, as another process would see the file.
 */
describe('SQLite: a request answers only once its writes are committed', () => {
  let file: string;
  let db: Database;
  let other: DatabaseSync;

  before(async () => {
    file = join(mkdtempSync(join(tmpdir(), 'stepgate-commit-')), 'db.sqlite');
    db = await openDatabase(`sqlite:${file}`);
    // A foreign key checked at COMMIT: a statement that breaks it runs, and its COMMIT fails.
    await db.sequelize.query('CREATE TABLE parents (id TEXT PRIMARY KEY)');
    await db.sequelize.query('CREATE TABLE children (id TEXT PRIMARY KEY, parent TEXT REFERENCES parents (id) DEFERRABLE INITIALLY DEFERRED)');
    other = new DatabaseSync(file);
  });
  after(async () => {
    other.close();
    await db.close();
  });

  const seenElsewhere = (key: string) => other.prepare('SELECT count(*) AS n FROM login_failures WHERE key = ?').get(key)!.n;
  const insert = (key: string) => db.change('INSERT INTO login_failures (key, failures, lockouts, first_failure_at) VALUES (:key, 1, 0, 0)', { key });

  it('tells the request before the COMMIT, shares one COMMIT between its writes, and answers after it', async () => {
    let seenInside: unknown[] = [];
    await scopeRequest({}, async () => {
      assert.equal(await insert('a1'), 1);
      assert.equal(await insert('a2'), 1, 'the second write does not wait for the first one\'s COMMIT');
      const own = await db.select<{ key: string }>("SELECT key FROM login_failures WHERE key IN ('a1', 'a2') ORDER BY key", {});
      assert.deepEqual(own.map((r) => r.key), ['a1', 'a2'], 'the request reads its own writes');
      seenInside = [seenElsewhere('a1'), seenElsewhere('a2')];
    });
    assert.deepEqual(seenInside, [0, 0], 'not yet committed while the request ran');
    assert.deepEqual([seenElsewhere('a1'), seenElsewhere('a2')], [1, 1], 'committed before the answer');
  });

  it('outside a request, a write is done only once committed', async () => {
    assert.equal(await insert('b1'), 1);
    assert.equal(seenElsewhere('b1'), 1);
  });

  it('fails the request when its COMMIT fails (nothing of it is kept)', async () => {
    await assert.rejects(scopeRequest({}, async () => {
      assert.equal(await insert('c1'), 1);
      assert.equal(await db.change('INSERT INTO children (id, parent) VALUES (:id, :parent)', { id: 'orphan', parent: 'none' }), 1, 'the statement itself runs');
    }), /FOREIGN KEY/);
    assert.equal(seenElsewhere('c1'), 0, 'rolled back with the failed COMMIT');
    assert.equal(await insert('c2'), 1, 'the next write goes on in a new transaction');
    assert.equal(seenElsewhere('c2'), 1);
  });
});
