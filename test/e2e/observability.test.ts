import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { startStepgate, dropDatabase, freePort, onPostgres, type TestServer } from '../support/server.ts';
import { Browser } from '../support/browser.ts';
import { addClient, addUser, beginLogin, completeLogin, relyingParty, RP_CALLBACK, PASSWORD, totpCode } from '../support/fixtures.ts';
import { spawnStepgate, type ChildStepgate } from '../support/process.ts';
import { seedClient, seedUser, sharedDatabase } from '../support/seed.ts';

/** The value of one sample in Prometheus text format, or undefined when absent. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const inside = line.slice(name.length + 1, line.lastIndexOf('}')).split(',');
    if (wanted.every((w) => inside.includes(w))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

describe('observability: metrics, request ids, logs', function () {
  this.timeout(30_000);
  let server: TestServer;
  let rp: oidc.Configuration;

  before(async () => {
    server = await startStepgate({ overrides: { lockout: { maxFailures: 2, maxFailuresPerAddress: 50, baseSeconds: 60, maxSeconds: 3600, windowSeconds: 900 } } });
    rp = await relyingParty(server, await addClient(server, 'webapp', 'password,totp'));
  });
  after(async () => server.stop());

  it('/metrics counts logins per client and step, tokens per grant, lockouts and latency per route', async () => {
    const alice = await addUser(server, 'alice');
    const login = await beginLogin(rp);
    const last = await completeLogin(new Browser(RP_CALLBACK), login.url, alice);
    const tokens = await oidc.authorizationCodeGrant(rp, new URL(last.location!), { pkceCodeVerifier: login.verifier, expectedState: login.state });
    await oidc.refreshTokenGrant(rp, tokens.refresh_token!);
    await assert.rejects(oidc.refreshTokenGrant(rp, tokens.refresh_token!));

    await addUser(server, 'mallory');
    const browser = new Browser(RP_CALLBACK);
    let page = await browser.go((await beginLogin(rp)).url.href);
    for (let i = 0; i < 3; i++) page = await browser.submit(page, { username: 'mallory', password: 'wrong password' });
    assert.match(page.$('.error').text(), /Too many attempts/);

    const res = await fetch(`${server.issuer}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type')!, /text\/plain/);
    const text = await res.text();
    assert.equal(sample(text, 'stepgate_logins_started_total', { client: 'webapp' }), 2);
    assert.equal(sample(text, 'stepgate_logins_completed_total', { client: 'webapp' }), 1);
    assert.equal(sample(text, 'stepgate_login_steps_total', { client: 'webapp', step: 'password', outcome: 'success' }), 1);
    assert.equal(sample(text, 'stepgate_login_steps_total', { client: 'webapp', step: 'totp', outcome: 'success' }), 1);
    assert.equal(sample(text, 'stepgate_login_steps_total', { client: 'webapp', step: 'password', outcome: 'failure', reason: 'invalid_credentials' }), 2);
    assert.equal(sample(text, 'stepgate_login_steps_total', { client: 'webapp', step: 'password', outcome: 'failure', reason: 'locked' }), 1);
    assert.equal(sample(text, 'stepgate_lockouts_total', { factor: 'password', scope: 'account' }), 1);
    assert.equal(sample(text, 'stepgate_tokens_issued_total', { grant: 'authorization_code' }), 1);
    assert.equal(sample(text, 'stepgate_tokens_issued_total', { grant: 'refresh_token' }), 1);
    assert.equal(sample(text, 'stepgate_token_errors_total', { grant: 'refresh_token', error: 'invalid_grant' }), 1);
    assert.equal(sample(text, 'stepgate_authorizations_total', { client: 'webapp' }), 1);
    assert.ok(sample(text, 'stepgate_http_request_duration_seconds_count', { route: 'token', method: 'POST', status: '200' })! >= 2);
    assert.ok(sample(text, 'stepgate_http_request_duration_seconds_count', { route: '/interaction/:uid/step/:step', method: 'POST', status: '303' })! >= 2);
    assert.match(text, /^process_resident_memory_bytes \d+/m);
  });

  it('every response carries a request id; a usable incoming one is kept, anything else replaced', async () => {
    const fresh = await fetch(`${server.issuer}/healthz`);
    assert.match(fresh.headers.get('x-request-id')!, /^[0-9a-f-]{36}$/);
    const kept = await fetch(`${server.issuer}/.well-known/openid-configuration`, { headers: { 'X-Request-Id': 'lb-1234.abc' } });
    assert.equal(kept.headers.get('x-request-id'), 'lb-1234.abc');
    const replaced = await fetch(`${server.issuer}/nowhere`, { headers: { 'X-Request-Id': 'has spaces and {"json":1}' } });
    assert.equal(replaced.status, 404);
    assert.match(replaced.headers.get('x-request-id')!, /^[0-9a-f-]{36}$/);
  });

  describe('logs of a real process during a login', () => {
    let shared: Awaited<ReturnType<typeof sharedDatabase>>;
    let child: ChildStepgate;
    before(async () => {
      shared = await sharedDatabase();
      const port = await freePort();
      child = await spawnStepgate({ ...shared.env, PORT: String(port), ISSUER: `http://localhost:${port}` });
    });
    after(async () => {
      await child?.stop();
      await shared?.services.db.close();
      if (onPostgres && shared) await dropDatabase(shared.databaseUrl);
    });

    it('are JSON with a request id on every request line, and carry no password, code, token, secret or cookie', async () => {
      const client = await seedClient(shared.services, 'webapp', 'password,totp');
      const carol = await seedUser(shared.services, 'carol');
      const issuer = `http://localhost:${child.port}`;
      const rpc = await oidc.discovery(new URL(issuer), client.clientId, { client_secret: client.secret }, oidc.ClientSecretBasic(client.secret), { execute: [oidc.allowInsecureRequests] });
      const login = await beginLogin(rpc);
      const browser = new Browser(RP_CALLBACK);
      let page = await browser.go(login.url.href);
      page = await browser.submit(page, { username: 'carol', password: 'a wrong guess 123' });
      page = await browser.submit(page, { username: 'carol', password: PASSWORD });
      const code = await totpCode(carol.totpSecret);
      page = await browser.submit(page, { code });
      page = await browser.submit(page, {}, /consent/, { name: 'decision', value: 'allow' });
      const callback = new URL(page.location!);
      const tokens = await oidc.authorizationCodeGrant(rpc, callback, { pkceCodeVerifier: login.verifier, expectedState: login.state });
      await oidc.tokenIntrospection(rpc, tokens.access_token);
      await oidc.refreshTokenGrant(rpc, tokens.refresh_token!);
      await new Promise((r) => setTimeout(r, 200)); // let the last lines arrive through the pipe

      const requests = child.lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'request');
      assert.ok(requests.length >= 8, `one line per request (saw ${requests.length})`);
      for (const line of requests) assert.match(String(line.reqId), /^[0-9a-f-]{36}$/);
      assert.ok(requests.some((l) => l.route === 'token' && l.status === 200));

      const cookies = (await browser.jar.getCookies(issuer)).map((c) => c.value).filter((v) => v.length > 8);
      const secrets = [PASSWORD, 'a wrong guess 123', code, client.secret, carol.totpSecret, callback.searchParams.get('code')!, login.verifier, login.state,
        tokens.access_token, tokens.refresh_token!, tokens.id_token!, ...cookies];
      const all = child.lines.join('\n');
      for (const secret of secrets) assert.ok(!all.includes(secret), `a log line contains a secret (${secret.slice(0, 4)}…)`);
    });
  });
});
