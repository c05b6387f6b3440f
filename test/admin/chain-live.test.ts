import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { startStepgate, type TestServer } from '../support/server.ts';
import { Browser } from '../support/browser.ts';
import { addClient, addUser, beginLogin, completeLogin, relyingParty, RP_CALLBACK, PASSWORD } from '../support/fixtures.ts';
import { api, clientToken, eventually } from '../support/admin.ts';

describe('admin API: a chain edit applies to the very next login', function () {
  this.timeout(30_000);
  let server: TestServer;

  before(async () => {
    server = await startStepgate();
  });
  after(async () => server.stop());

  it('password only → add a TOTP step through the API → the next login asks for TOTP and its tokens say so', async () => {
    const token = await clientToken(server, 'automation', { adminApi: true });
    const user = await addUser(server, 'gina');
    const client = await addClient(server, 'live-app', 'password');
    const rp = await relyingParty(server, client);

    const first = await beginLogin(rp);
    const browser = new Browser(RP_CALLBACK);
    let page = await browser.go(first.url.href);
    page = await browser.submit(page, { username: 'gina', password: 'wrong password' });
    page = await browser.submit(page, { username: 'gina', password: PASSWORD });
    assert.equal(page.$('input[name=code]').length, 0, 'no TOTP step yet');
    const firstDone = await completeLogin(browser, first.url, user);
    const firstTokens = await oidc.authorizationCodeGrant(rp, new URL(firstDone.location!), { pkceCodeVerifier: first.verifier, expectedState: first.state });
    assert.deepEqual(firstTokens.claims()!.amr, ['pwd']);

    const res = await api(server, 'PATCH', '/clients/live-app', { token, body: { chain: 'password,totp' } });
    assert.equal(res.status, 200);

    // A fresh browser: the very next login, no restart in between.
    const next = await beginLogin(rp);
    const fresh = new Browser(RP_CALLBACK);
    let p2 = await fresh.go(next.url.href);
    p2 = await fresh.submit(p2, { username: 'gina', password: PASSWORD });
    assert.equal(p2.$('input[name=code]').length, 1, 'the TOTP step is now asked for');
    assert.match(p2.$('.progress').text(), /Step 2 of 2/);
    const done = await completeLogin(fresh, next.url, user);
    const tokens = await oidc.authorizationCodeGrant(rp, new URL(done.location!), { pkceCodeVerifier: next.verifier, expectedState: next.state });
    assert.deepEqual([...(tokens.claims()!.amr as string[])].sort(), ['mfa', 'otp', 'pwd']);

    // The browser that signed in with the password alone does not skip the new step either.
    const again = await beginLogin(rp);
    const p3 = await browser.go(again.url.href);
    assert.equal(p3.location, undefined, 'no code without the new step');
    assert.equal(p3.$('input[name=code]').length, 1);

    // And the login was audited, step by step, with the code issued at the end.
    const events = await eventually(async () => (await api(server, 'GET', '/audit?client=live-app', { token })).body.events as { kind: string; details: { authenticator?: string } }[],
      (e) => e.some((x) => x.kind === 'auth.token.issued'));
    assert.ok(events.some((e) => e.kind === 'auth.step.passed' && e.details.authenticator === 'totp'));
    assert.ok(events.some((e) => e.kind === 'auth.code.issued'));
    assert.ok(events.some((e) => e.kind === 'auth.step.failed' && e.details.authenticator === 'password' && (e.details as { reason?: string }).reason === 'invalid_credentials'));
    assert.ok(events.some((e) => e.kind === 'auth.token.issued'));
  });
});
