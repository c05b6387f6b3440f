import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as oidc from 'openid-client';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dropDatabase, startStepgate, testDatabaseUrl, type TestServer } from '../support/server.ts';
import { Browser } from '../support/browser.ts';
import { runCli } from '../support/process.ts';
import { addClient, addUser, beginLogin, completeLogin, relyingParty, RP_CALLBACK, PASSWORD } from '../support/fixtures.ts';
import { loadConfig, ConfigError } from '../../config/index.ts';

/** Every row of every table, as text: what a database dump would hold. */
async function dump(server: TestServer): Promise<string> {
  const tables = ['users', 'clients', 'oidc_payloads', 'flow_states', 'session_steps', 'signing_keys', 'login_failures'];
  const parts: string[] = [];
  for (const t of tables) parts.push(JSON.stringify(await server.stepgate.db.select(`SELECT * FROM ${t}`, {})));
  return parts.join('\n');
}

describe('attacks: secrets at rest', function () {
  this.timeout(60_000);

  it('a database dump holds no password, TOTP secret, client secret, token, code or session id', async () => {
    const server = await startStepgate();
    try {
      const user = await addUser(server, 'dumped');
      const client = await addClient(server, 'webapp', 'password,totp');
      const rp = await relyingParty(server, client);
      const login = await beginLogin(rp);
      const browser = new Browser(RP_CALLBACK);
      const last = await completeLogin(browser, login.url, user);
      const code = new URL(last.location!).searchParams.get('code')!;
      const tokens = await oidc.authorizationCodeGrant(rp, new URL(last.location!), { pkceCodeVerifier: login.verifier, expectedState: login.state });
      const session = (await browser.jar.getCookies(`${server.issuer}/authorize`)).find((c) => c.key === '_session')!.value;

      const text = await dump(server);
      for (const [what, secret] of Object.entries({
        password: PASSWORD, 'TOTP secret': user.totpSecret, 'client secret': client.secret!, code,
        'access token': tokens.access_token, 'refresh token': tokens.refresh_token!, 'session id': session,
      })) {
        assert.ok(!text.includes(secret), `${what} found in the dump`);
      }
      assert.match(text, /argon2id/, 'passwords are argon2id hashes');
    } finally {
      await server.stop();
    }
  });

  it('keys rotate: a new first key still opens old data; after reseal the old key can go', async () => {
    const oldKey = randomBytes(32).toString('base64');
    const newKey = randomBytes(32).toString('base64');
    const dir = mkdtempSync(join(tmpdir(), 'stepgate-rotate-'));
    const databaseUrl = await testDatabaseUrl(dir);
    const first = await startStepgate({ dir, databaseUrl, secretKey: oldKey });
    const user = await addUser(first, 'rotated');
    const client = await addClient(first, 'webapp', 'password,totp');
    await first.stop();

    const env = { DATABASE_URL: first.config.databaseUrl, STEPGATE_DATA_DIR: first.dir, STEPGATE_DEMO: '0' };
    // New key first, old key second: everything still decrypts; reseal moves it all.
    const resealed = await runCli(['secrets', 'reseal', '--json'], { ...env, STEPGATE_SECRET_KEYS: `${newKey},${oldKey}` });
    assert.equal(resealed.code, 0, resealed.stderr);
    // clients: ours and the built-in admin console client.
    assert.deepEqual(JSON.parse(resealed.stdout), { credentials: 1, clients: 2, signing_keys: 3 });

    // Only the new key now: the user logs in with TOTP, the client authenticates.
    const second = await startStepgate({ dir: first.dir, databaseUrl: first.config.databaseUrl, secretKey: newKey });
    try {
      const rp = await relyingParty(second, client);
      const login = await beginLogin(rp);
      const last = await completeLogin(new Browser(RP_CALLBACK), login.url, user);
      const tokens = await oidc.authorizationCodeGrant(rp, new URL(last.location!), { pkceCodeVerifier: login.verifier, expectedState: login.state });
      assert.ok(tokens.access_token);
    } finally {
      await second.stop();
      await dropDatabase(databaseUrl);
    }
  });

  it('production refuses to start without a key, with a weak key, or with an http issuer', () => {
    const base = { NODE_ENV: 'production', ISSUER: 'https://id.example' };
    assert.throws(() => loadConfig(base), (e: Error) => e instanceof ConfigError && /STEPGATE_SECRET_KEYS.*required in production/.test(e.message));
    assert.throws(() => loadConfig({ ...base, STEPGATE_SECRET_KEYS: Buffer.alloc(32).toString('base64') }), /looks weak/);
    assert.throws(() => loadConfig({ ...base, STEPGATE_SECRET_KEYS: randomBytes(16).toString('base64') }), /32 bytes/);
    assert.throws(() => loadConfig({ ...base, ISSUER: 'http://id.example', STEPGATE_SECRET_KEYS: randomBytes(32).toString('base64') }), /https/);
    assert.equal(loadConfig({ ...base, STEPGATE_SECRET_KEYS: randomBytes(32).toString('base64') }).demo, false, 'no demo data in production');
  });
});
