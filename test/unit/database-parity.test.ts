import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { openDatabase, type Database } from '../../server/storage/database.ts';
import { dropDatabase, onPostgres, testDatabaseUrl } from '../support/server.ts';

/**
 * The storage contract every module relies on, run on whichever database the suite runs
 * on (SQLite, or PostgreSQL under TEST_DATABASE_URL): both must answer alike.
 */
describe(`database contract on ${onPostgres ? 'PostgreSQL' : 'SQLite'}`, () => {
  let url: string;
  let db: Database;

  before(async () => {
    url = await testDatabaseUrl(mkdtempSync(join(tmpdir(), 'stepgate-db-')));
    db = await openDatabase(url);
  });
  after(async () => {
    await db.close();
    if (onPostgres) await dropDatabase(url);
  });

  it('reports affected rows for inserts that may conflict, conditional updates and deletes', async () => {
    const insert = 'INSERT INTO login_failures (key, failures, lockouts, first_failure_at) VALUES (:key, 1, 0, :now) ON CONFLICT (key) DO NOTHING';
    assert.equal(await db.change(insert, { key: 'k1', now: 100 }), 1);
    assert.equal(await db.change(insert, { key: 'k1', now: 100 }), 0, 'a conflicting insert changes nothing');
    const bump = 'UPDATE login_failures SET failures = failures + 1 WHERE key = :key AND failures < :limit';
    assert.equal(await db.change(bump, { key: 'k1', limit: 2 }), 1);
    assert.equal(await db.change(bump, { key: 'k1', limit: 2 }), 0, 'a condition that no longer holds changes nothing');
    assert.equal(await db.change('DELETE FROM login_failures WHERE key = :key', { key: 'k1' }), 1);
    assert.equal(await db.change('DELETE FROM login_failures WHERE key = :key', { key: 'k1' }), 0);
  });

  it('returns plain rows with numbers for BIGINT columns, and rows from INSERT ... RETURNING', async () => {
    const [row] = await db.select<{ failures: number; first_failure_at: number }>(
      'INSERT INTO login_failures (key, failures, lockouts, first_failure_at) VALUES (:key, 3, 0, :at) RETURNING failures, first_failure_at',
      { key: 'k2', at: 1_800_000_000_123 });
    assert.deepEqual(row, { failures: 3, first_failure_at: 1_800_000_000_123 });
    const rows = await db.select('SELECT key, first_failure_at, locked_until FROM login_failures WHERE key = :key', { key: 'k2' });
    assert.deepEqual(rows, [{ key: 'k2', first_failure_at: 1_800_000_000_123, locked_until: null }]);
    assert.deepEqual(await db.select('SELECT key FROM login_failures WHERE key = :key', { key: 'nobody' }), []);
  });

  it('treats values as data: quotes, placeholders-lookalikes and NUL bytes', async () => {
    const tricky = "o'brien :key -- ; DROP TABLE users";
    await db.change('INSERT INTO login_failures (key, failures, lockouts, first_failure_at) VALUES (:key, 1, 0, 1)', { key: tricky });
    assert.equal((await db.select<{ key: string }>('SELECT key FROM login_failures WHERE key = :key', { key: tricky }))[0]?.key, tricky);
    await db.change('INSERT INTO login_failures (key, failures, lockouts, first_failure_at) VALUES (:key, 1, 0, 1)', { key: 'nul\u0000byte' });
    assert.deepEqual(await db.select('SELECT key FROM login_failures WHERE key = :key', { key: 'nul\u0000byte' }), [], 'a lookup by a value with NUL finds nothing');
    assert.equal((await db.select('SELECT key FROM login_failures WHERE key = :key', { key: 'nul\ufffdbyte' })).length, 1, 'NUL is stored as U+FFFD on both');
  });

  it('reads booleans and dates written through it', async () => {
    await db.change('INSERT INTO users (id, username, roles, disabled, created_at, updated_at) VALUES (:id, :u, :roles, :disabled, :now, :now)',
      { id: 'u-1', u: 'parity', roles: '[]', disabled: true, now: new Date('2026-01-02T03:04:05Z') });
    const [user] = await db.select<{ disabled: boolean | number; created_at: unknown }>('SELECT disabled, created_at FROM users WHERE id = :id', { id: 'u-1' });
    assert.equal(Boolean(user!.disabled), true);
    assert.equal(new Date(user!.created_at as string).toISOString(), '2026-01-02T03:04:05.000Z');
  });

  it('runs statements inside a transaction in that transaction', async () => {
    await assert.rejects(db.sequelize.transaction(async (transaction) => {
      await db.change('INSERT INTO login_failures (key, failures, lockouts, first_failure_at) VALUES (:key, 1, 0, 1)', { key: 'tx' }, transaction);
      assert.equal((await db.select('SELECT key FROM login_failures WHERE key = :key', { key: 'tx' }, transaction)).length, 1);
      throw new Error('roll back');
    }), /roll back/);
    assert.deepEqual(await db.select('SELECT key FROM login_failures WHERE key = :key', { key: 'tx' }), [], 'rolled back');
  });

  // PostgreSQL ends connections when it restarts, fails over or is told to (an administrator's
  // pg_terminate_backend, a DROP DATABASE WITH (FORCE)). SQLite has no server to end one.
  if (onPostgres) {
    it('PostgreSQL: an idle pooled connection the server ends is dropped without taking the process down, and the next statement works', async () => {
      // several statements at once, so that the pool holds several idle connections afterwards
      await Promise.all(Array.from({ length: 4 }, (_, i) => db.select('SELECT :i AS i', { i })));
      const admin = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
      await admin.connect();
      try {
        const { rows } = await admin.query(
          "SELECT count(pg_terminate_backend(pid))::int AS ended FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() AND application_name <> 'stepgate cache listener'",
          [new URL(url).pathname.slice(1)]);
        assert.ok(rows[0].ended >= 1, 'some idle connection was ended');
      } finally {
        await admin.end();
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
      const [row] = await db.select<{ v: string }>('SELECT CAST(:v AS TEXT) AS v', { v: 'still here' });
      assert.equal(row!.v, 'still here');
    });
  }
});
