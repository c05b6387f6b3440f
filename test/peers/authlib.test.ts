import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { startStepgate, type TestServer } from '../support/server.ts';
import { Browser } from '../support/browser.ts';
import { addClient, addUser, completeLogin, PASSWORD, RP_CALLBACK } from '../support/fixtures.ts';

const PYTHON = '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('./authlib-client.py', import.meta.url));
const missing = !existsSync(PYTHON) ? `${PYTHON} is not installed`
  : spawnSync(PYTHON, ['-c', 'import authlib, requests']).status !== 0 ? 'python3-authlib or python3-requests is not installed' : undefined;

describe('peers: Python authlib as a third-party client', function () {
  this.timeout(60_000);
  let server: TestServer;
  let alice: Awaited<ReturnType<typeof addUser>>;

  before(async function () {
    if (missing) {
      console.log(`    skipped: ${missing} (apt-get install python3-authlib python3-requests)`);
      this.skip();
    }
    server = await startStepgate();
    alice = await addUser(server, 'alice');
    await addClient(server, 'web', 'password,totp');
    await addClient(server, 'device', 'password', { grants: ['password', 'refresh_token'] });
    await addClient(server, 'service', 'password', { grants: ['client_credentials'] });
    await server.stepgate.clients.update('service', { grantTypes: ['client_credentials'], settings: { scopes: ['reports'] } });
  });
  after(async () => server?.stop());

  it('code + PKCE, id_token validated against /jwks, refresh, introspect, revoke, password and client_credentials grants', async () => {
    const child = spawn(PYTHON, [SCRIPT], {
      env: {
        PATH: process.env.PATH, ISSUER: server.issuer, REDIRECT_URI: RP_CALLBACK,
        WEB_ID: 'web', WEB_SECRET: 'web-secret-0123456789', PASSWORD_ID: 'device', PASSWORD_SECRET: 'device-secret-0123456789',
        SERVICE_ID: 'service', SERVICE_SECRET: 'service-secret-0123456789', USERNAME: 'alice', PASSWORD,
        // authlib refuses plain http unless told this is a test
        AUTHLIB_INSECURE_TRANSPORT: '1',
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    try {
      const first = await lines.next();
      assert.ok(!first.done, `authlib printed nothing:\n${stderr}`);
      const { url } = JSON.parse(first.value) as { url: string };
      const back = await completeLogin(new Browser(RP_CALLBACK), new URL(url), alice);
      child.stdin.end(`${back.location}\n`);
      const last = await lines.next();
      assert.ok(!last.done, `authlib failed:\n${stderr}`);
      const seen = JSON.parse(last.value) as Record<string, Record<string, unknown>> & { rotated: boolean; revoke_status: number };

      assert.equal(seen.id_token!.sub, alice.id);
      assert.deepEqual([...(seen.id_token!.amr as string[])].sort(), ['mfa', 'otp', 'pwd']);
      assert.equal(seen.rotated, true);
      assert.equal(seen.introspected!.active, true);
      assert.equal(seen.introspected!.token_type, 'Bearer');
      assert.equal(seen.revoke_status, 200);
      assert.deepEqual(seen.after_revoke, { active: false });
      assert.equal(seen.password_grant!.active, true);
      assert.equal(seen.password_grant!.sub, alice.id);
      assert.equal(seen.password_grant!.client_id, 'device');
      assert.equal(seen.client_credentials!.active, true);
      assert.equal(seen.client_credentials!.sub, 'service');
      assert.equal(seen.client_credentials!.scope, 'reports');
      assert.equal(await exited, 0, stderr);
    } finally {
      child.kill();
    }
  });
});
