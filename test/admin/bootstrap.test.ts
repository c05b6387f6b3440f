import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { startStepgate, testDatabaseUrl } from '../support/server.ts';
import { loadConfig } from '../../config/index.ts';

describe('admin console client at start-up', function () {
  this.timeout(30_000);

  it('is created once with password + TOTP, keeps an admin-edited chain, and follows a new issuer', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stepgate-test-'));
    const databaseUrl = await testDatabaseUrl(dir);
    const secretKey = randomBytes(32).toString('base64');
    const first = await startStepgate({ dir, databaseUrl, secretKey });
    const created = (await first.stepgate.clients.get('stepgate-admin'))!;
    assert.equal(created.chain, 'password,totp');
    assert.deepEqual(created.redirectUris, [`${first.issuer}/admin/callback`]);
    assert.ok(created.secret && created.secret.length >= 32);
    await first.stepgate.clients.update('stepgate-admin', { chain: 'password,totp,password' });
    await first.stop();

    const second = await startStepgate({ dir, databaseUrl, secretKey });
    try {
      const kept = (await second.stepgate.clients.get('stepgate-admin'))!;
      assert.equal(kept.chain, 'password,totp,password', 'the edited chain survives a restart');
      assert.equal(kept.secret, created.secret);
      assert.deepEqual(kept.redirectUris, [`${first.issuer}/admin/callback`, `${second.issuer}/admin/callback`]);
    } finally {
      await second.stop();
      if (databaseUrl.startsWith('postgres')) {
        const { default: pg } = await import('pg');
        const admin = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
        await admin.connect();
        await admin.query(`DROP DATABASE IF EXISTS ${new URL(databaseUrl).pathname.slice(1)} WITH (FORCE)`);
        await admin.end();
      }
    }
  });

  it('does not keep the demo data from being seeded on a new database', async () => {
    const server = await startStepgate({ overrides: { demo: true } });
    try {
      assert.ok(await server.stepgate.clients.get('demo-app'));
      assert.ok(await server.stepgate.users.byUsername('demo'));
    } finally {
      await server.stop();
    }
  });

  it('refuses a console chain of a single step in the configuration', async () => {
    assert.throws(() => loadConfig({ STEPGATE_DEMO: '0' }, { admin: { chain: 'password', sessionTtl: 3600 } }), /config admin\.chain: needs at least two steps/);
  });
});
