import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { openDatabase, type Database } from '../../server/storage/database.ts';
import { dropDatabase, onPostgres, testDatabaseUrl } from '../support/server.ts';

/**
 * PostgreSQL ends connections when it restarts, fails over or is told to (a DROP DATABASE
 * WITH (FORCE), an administrator's pg_terminate_backend). An idle pooled connection that
 * ends must not take stepgate down: the pool drops it and the next statement opens another.
 * (PostgreSQL only: SQLite has no server to end a connection.)
 */
if (onPostgres) {
  describe('PostgreSQL: connections ended by the server', () => {
    let url: string;
    let db: Database;

    before(async () => {
      url = await testDatabaseUrl(mkdtempSync(join(tmpdir(), 'stepgate-pg-')));
      db = await openDatabase(url);
    });
    after(async () => {
      await db.close();
      await dropDatabase(url);
    });

    it('an idle pooled connection ended by the server is dropped, and the next statement works', async () => {
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
      const [row] = await db.select<{ n: number }>('SELECT count(*)::int AS n FROM users', {});
      assert.equal(row!.n, 0);
    });
  });
}
