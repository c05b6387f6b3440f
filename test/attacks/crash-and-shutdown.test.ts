import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import * as oidc from 'openid-client';
import { freePort, testDatabaseUrl } from '../support/server.ts';
import { spawnServer, runCli } from '../support/process.ts';
import { Browser } from '../support/browser.ts';
import { beginLogin, PASSWORD, RP_CALLBACK, totpCode } from '../support/fixtures.ts';

describe('crash and shutdown: real processes', function () {
  this.timeout(90_000);
  let env: Record<string, string>;
  let issuer: string;
  let totpSecret: string;

  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stepgate-proc-'));
    const port = await freePort();
    issuer = `http://localhost:${port}`;
    env = {
      PORT: String(port), ISSUER: issuer, DATABASE_URL: await testDatabaseUrl(dir), STEPGATE_DATA_DIR: dir,
      STEPGATE_SECRET_KEYS: randomBytes(32).toString('base64'), STEPGATE_DEMO: '0',
    };
    assert.equal((await runCli(['user', 'add', 'kate', '--password-stdin'], env, PASSWORD)).code, 0);
    const enrolled = await runCli(['totp', 'enroll', 'kate', '--json'], env);
    totpSecret = (JSON.parse(enrolled.stdout) as { secret: string }).secret;
    assert.equal((await runCli(['client', 'add', 'webapp', '--redirect-uri', RP_CALLBACK, '--secret-stdin', '--chain', 'password,totp'], env, 'webapp-secret-0123456789')).code, 0);
  });

  it('kill -9 between the password and TOTP steps: after a restart the login resumes and the code redeems', async () => {
    const first = await spawnServer(env);
    const rp = await oidc.discovery(new URL(issuer), 'webapp', 'webapp-secret-0123456789', undefined, { execute: [oidc.allowInsecureRequests] });
    const login = await beginLogin(rp);
    const browser = new Browser(RP_CALLBACK);
    let page = await browser.go(login.url.href);
    page = await browser.submit(page, { username: 'kate', password: PASSWORD });
    assert.equal(page.$('input[name=code]').length, 1);

    first.child.kill('SIGKILL');
    assert.equal(await first.exited, null, 'killed, not exited');

    const second = await spawnServer(env);
    try {
      const resumed = await browser.go(page.url);
      assert.equal(resumed.$('input[name=code]').length, 1, 'the login is still waiting for its TOTP step');
      const consent = await browser.submit(resumed, { code: await totpCode(totpSecret) });
      const last = await browser.submit(consent, {}, /consent/, { name: 'decision', value: 'allow' });
      assert.ok(last.location?.startsWith(RP_CALLBACK), last.html.slice(0, 500));
      const tokens = await oidc.authorizationCodeGrant(rp, new URL(last.location!), { pkceCodeVerifier: login.verifier, expectedState: login.state });
      assert.deepEqual([...(tokens.claims()!.amr as string[])].sort(), ['mfa', 'otp', 'pwd']);
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
    }
  });

  it('SIGTERM: a request in flight still gets its answer, then the process exits 0', async () => {
    const server = await spawnServer(env);
    // A token request whose body is still arriving when the signal lands: its handler is
    // running, so a graceful stop must let it finish.
    const body = 'grant_type=client_credentials&scope=openid';
    const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request(`${issuer}/token`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded', 'content-length': String(body.length),
          authorization: `Basic ${Buffer.from('webapp:webapp-secret-0123456789').toString('base64')}`,
        },
      }, (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode!, body: text }));
      });
      req.on('error', reject);
      req.write(body.slice(0, 10));
      setTimeout(() => {
        server.child.kill('SIGTERM');
        setTimeout(() => req.end(body.slice(10)), 300);
      }, 200);
    });
    const { status, body: text } = await answer;
    assert.equal(status, 400, text);
    assert.equal(typeof (JSON.parse(text) as { error: string }).error, 'string', 'a complete OAuth answer, not a reset');
    assert.equal(await server.exited, 0);
    assert.match(server.output(), /shutting down/);
    await assert.rejects(fetch(`${issuer}/healthz`), 'no longer accepting');
  });
});
