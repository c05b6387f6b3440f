import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { startStepgate, type TestServer } from '../support/server.ts';
import { Browser } from '../support/browser.ts';
import { addClient, addUser, beginLogin, completeLogin, relyingParty, RP_CALLBACK, PASSWORD, totpCode } from '../support/fixtures.ts';

/** Raw token requests, so that many can race with identical bodies. */
function tokenRequest(server: TestServer, client: { clientId: string; secret: string | null }, body: Record<string, string>) {
  return fetch(`${server.issuer}/token`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${client.clientId}:${client.secret}`).toString('base64')}`,
    },
    body: new URLSearchParams(body),
  });
}

describe('attacks: replay and races on single-use things', function () {
  this.timeout(60_000);
  let server: TestServer;
  let client: { clientId: string; secret: string | null };
  let rp: oidc.Configuration;

  before(async () => {
    server = await startStepgate();
    client = await addClient(server, 'webapp', 'password,totp');
    rp = await relyingParty(server, client);
  });
  after(async () => server.stop());

  async function freshCode(username: string) {
    const user = await addUser(server, username);
    const login = await beginLogin(rp);
    const last = await completeLogin(new Browser(RP_CALLBACK), login.url, user);
    return { code: new URL(last.location!).searchParams.get('code')!, verifier: login.verifier, user };
  }

  it('one code redeemed by 10 parallel requests: exactly one 200, the others invalid_grant, and the winner\'s tokens are revoked', async () => {
    const { code, verifier } = await freshCode('codeRace');
    const responses = await Promise.all(Array.from({ length: 10 }, () =>
      tokenRequest(server, client, { grant_type: 'authorization_code', code, redirect_uri: RP_CALLBACK, code_verifier: verifier })));
    const bodies = await Promise.all(responses.map(async (r) => ({ status: r.status, body: await r.json() as Record<string, string> })));
    const winners = bodies.filter((b) => b.status === 200);
    assert.equal(winners.length, 1, `statuses: ${bodies.map((b) => b.status)}`);
    for (const loser of bodies.filter((b) => b.status !== 200)) {
      assert.equal(loser.status, 400);
      assert.equal(loser.body.error, 'invalid_grant');
    }
    // RFC 6749 4.1.2: a code used twice revokes what was issued from it.
    const introspected = await oidc.tokenIntrospection(rp, winners[0]!.body.access_token!);
    assert.equal(introspected.active, false);
  });

  it('one refresh token used by 10 parallel requests: exactly one 200; reuse revokes the grant', async () => {
    const { code, verifier } = await freshCode('refreshRace');
    const first = await (await tokenRequest(server, client, { grant_type: 'authorization_code', code, redirect_uri: RP_CALLBACK, code_verifier: verifier })).json() as Record<string, string>;
    const responses = await Promise.all(Array.from({ length: 10 }, () =>
      tokenRequest(server, client, { grant_type: 'refresh_token', refresh_token: first.refresh_token! })));
    const bodies = await Promise.all(responses.map(async (r) => ({ status: r.status, body: await r.json() as Record<string, string> })));
    const winners = bodies.filter((b) => b.status === 200);
    assert.equal(winners.length, 1, `statuses: ${bodies.map((b) => b.status)}`);
    assert.ok(bodies.filter((b) => b.status !== 200).every((b) => b.body.error === 'invalid_grant'));
    // The winner's new refresh token no longer works: the whole grant was revoked on reuse.
    const after = await tokenRequest(server, client, { grant_type: 'refresh_token', refresh_token: winners[0]!.body.refresh_token! });
    assert.equal(after.status, 400);
  });

  it('a refresh token used twice in sequence revokes the tokens issued from it', async () => {
    const { code, verifier } = await freshCode('refreshReplay');
    const first = await (await tokenRequest(server, client, { grant_type: 'authorization_code', code, redirect_uri: RP_CALLBACK, code_verifier: verifier })).json() as Record<string, string>;
    const second = await (await tokenRequest(server, client, { grant_type: 'refresh_token', refresh_token: first.refresh_token! })).json() as Record<string, string>;
    const replay = await tokenRequest(server, client, { grant_type: 'refresh_token', refresh_token: first.refresh_token! });
    assert.equal(replay.status, 400);
    assert.equal((await oidc.tokenIntrospection(rp, second.access_token!)).active, false);
  });

  it('one TOTP code posted by two browsers of the same user at once is accepted once', async () => {
    const user = await addUser(server, 'totpRace');
    const sessions = await Promise.all([0, 1].map(async () => {
      const browser = new Browser(RP_CALLBACK);
      let page = await browser.go((await beginLogin(rp)).url.href);
      page = await browser.submit(page, { username: 'totpRace', password: PASSWORD });
      return { browser, page };
    }));
    const code = await totpCode(user.totpSecret);
    const results = await Promise.all(sessions.map(({ browser, page }) => browser.submit(page, { code })));
    const accepted = results.filter((r) => r.$('input[name=code]').length === 0 && r.status < 400);
    assert.equal(accepted.length, 1, `statuses: ${results.map((r) => r.status)}`);
  });
});
