import assert from 'node:assert/strict';
import OAuth2Strategy from 'passport-oauth2';
import * as oidc from 'openid-client';
import { startStepgate, freePort, type TestServer } from '../support/server.ts';
import { startUpstream, type Upstream } from '../support/upstream.ts';
import { Browser } from '../support/browser.ts';
import { addClient, addUser, beginLogin, relyingParty, RP_CALLBACK } from '../support/fixtures.ts';
import { federatedLogin } from '../support/federation.ts';
import { createPassportAuthenticator } from '../../authenticators/passport/index.ts';

/**
 * Linking on /account (and its effect on the next login), and a Passport strategy
 * (passport-oauth2) as a step — both against a real oidc-provider upstream on loopback.
 */
describe('federation: account linking and Passport strategies', function () {
  this.timeout(60_000);
  let server: TestServer;
  let yahoo: Upstream;
  let alice: Awaited<ReturnType<typeof addUser>>;
  let bob: Awaited<ReturnType<typeof addUser>>;
  const rps = new Map<string, oidc.Configuration>();
  const yahooAlice = { username: 'alice.y', password: 'yahoo-pass-alice', sub: 'yahoo-sub-alice' };
  const yahooBob = { username: 'bob.y', password: 'yahoo-pass-bob', sub: 'yahoo-sub-bob' };
  const yahooMallory = { username: 'mallory.y', password: 'yahoo-pass-mallory', sub: 'yahoo-sub-mallory' };

  before(async () => {
    const port = await freePort();
    const broker = `http://localhost:${port}`;
    yahoo = await startUpstream({
      host: '127.0.0.1', users: [yahooAlice, yahooBob, yahooMallory],
      redirectUris: [`${broker}/federation/yahoo/callback`, `${broker}/federation/yahoo-oauth/callback`],
    });
    // Any Passport strategy: here plain OAuth 2.0 with PKCE, the profile read from the upstream's userinfo.
    const strategy = new OAuth2Strategy({
      authorizationURL: `${yahoo.issuer}/auth`, tokenURL: `${yahoo.issuer}/token`,
      clientID: yahoo.clientId, clientSecret: yahoo.clientSecret, callbackURL: `${broker}/federation/yahoo-oauth/callback`,
      scope: ['openid'], state: true, pkce: true,
    }, (_accessToken: string, _refreshToken: string, profile: unknown, done: (err: null, user: unknown) => void) => done(null, profile));
    strategy.userProfile = (accessToken, done) => {
      fetch(`${yahoo.issuer}/me`, { headers: { authorization: `Bearer ${accessToken}` } })
        .then(async (res) => (res.ok ? done(null, await res.json()) : done(new Error(`userinfo ${res.status}`))), done);
    };
    server = await startStepgate({
      port,
      authenticators: (deps) => [createPassportAuthenticator({
        id: 'yahoo-oauth', displayName: 'Yahoo (OAuth 2.0)', strategy, issuer: yahoo.issuer,
        subject: (user) => (user as { sub?: string }).sub,
      }, deps)],
    });
    const s = server.stepgate;
    await s.idps.add({ name: 'yahoo', issuer: yahoo.issuer, clientId: yahoo.clientId, clientSecret: yahoo.clientSecret, scopes: ['openid'], displayName: 'Yahoo', claimMapping: {}, jit: false, allowPrivateNetwork: true });
    alice = await addUser(server, 'alice', { totp: false });
    bob = await addUser(server, 'bob', { totp: false });
    await s.links.link({ idpName: 'yahoo', issuer: yahoo.issuer, subject: yahooAlice.sub }, alice.id);
    for (const [clientId, chain] of [['fed-app', 'password,yahoo'], ['pwd-app', 'password'], ['passport-app', 'password,yahoo-oauth']] as [string, string][]) {
      rps.set(clientId, await relyingParty(server, await addClient(server, clientId, chain)));
    }
  });
  after(async () => {
    await server?.stop();
    await yahoo?.stop();
  });

  async function login(clientId: string, browser: Browser, who: Parameters<typeof federatedLogin>[2]) {
    const { url } = await beginLogin(rps.get(clientId)!);
    return federatedLogin(browser, url.href, who);
  }

  const reachedApp = (page: { location?: string }) => page.location?.startsWith(RP_CALLBACK) ?? false;

  it('a passport-oauth2 step: the linked identity passes, another fails, cancelling fails cleanly', async () => {
    const ok = await login('passport-app', new Browser(RP_CALLBACK), { username: 'alice', upstream: yahooAlice });
    assert.ok(reachedApp(ok), `reached the application (${ok.status}: ${ok.$('.error').text()})`);
    const code = new URL(ok.location!).searchParams.get('code');
    assert.ok(code, 'a code was issued');

    const wrong = await login('passport-app', new Browser(RP_CALLBACK), { username: 'alice', upstream: yahooMallory });
    assert.equal(wrong.status, 400);
    assert.match(wrong.$('.error').text(), /not linked to your account/);

    const cancelled = await login('passport-app', new Browser(RP_CALLBACK), { username: 'alice', upstream: 'cancel' });
    assert.equal(cancelled.status, 400);
    assert.match(cancelled.$('.error').text(), /cancelled/);
  });

  it('/account needs a completed login', async () => {
    const page = await new Browser().go(`${server.issuer}/account`);
    assert.equal(page.status, 401);
    assert.match(page.html, /not signed in/);
  });

  it('linking on /account lets the next login pass the Yahoo step; unlinking makes it fail again', async () => {
    assert.equal(reachedApp(await login('fed-app', new Browser(RP_CALLBACK), { username: 'bob', upstream: yahooBob })), false, 'not linked yet');

    const browser = new Browser(RP_CALLBACK);
    assert.ok(reachedApp(await login('pwd-app', browser, { username: 'bob' })), 'bob completes a password-only chain');
    let account = await browser.go(`${server.issuer}/account`);
    assert.equal(account.status, 200);
    assert.match(account.html, /Signed in as <strong>bob<\/strong>/);

    const forged = await browser.request(`${server.issuer}/account/link/yahoo`, { form: { _csrf: 'forged' } });
    assert.equal(forged.status, 403, 'linking needs the page\'s CSRF token');

    const upstreamForm = await browser.submit(account, {}, /\/account\/link\/yahoo$/);
    assert.equal(upstreamForm.$('form#upstream-login').length, 1, 'a full login at the upstream');
    account = await browser.submit(upstreamForm, { ...yahooBob }, /login$/, { name: 'action', value: 'login' });
    assert.equal(account.status, 200);
    assert.match(account.html, /was linked/);
    assert.match(account.html, /yahoo-sub-bob/);
    assert.deepEqual((await server.stepgate.links.forAccount(bob.id)).map((l) => l.subject), [yahooBob.sub]);

    const next = await login('fed-app', new Browser(RP_CALLBACK), { username: 'bob', upstream: yahooBob });
    assert.ok(reachedApp(next), 'password + own Yahoo now passes');

    account = await browser.submit(account, {}, /\/account\/unlink$/);
    assert.match(account.html, /was unlinked/);
    // Unlinked again: refused right after the password step, before going upstream.
    const after = await login('fed-app', new Browser(RP_CALLBACK), { username: 'bob', upstream: yahooBob });
    assert.equal(after.status, 403);
    assert.match(after.$('.message').text(), /identity provider not linked/);
  });

  it('an identity linked to someone else cannot be linked again; a link callback is used once', async () => {
    const browser = new Browser(RP_CALLBACK);
    assert.ok(reachedApp(await login('pwd-app', browser, { username: 'bob' })));
    const account = await browser.go(`${server.issuer}/account`);
    const upstreamForm = await browser.submit(account, {}, /\/account\/link\/yahoo$/);
    // Stop at the way back to keep the callback URL, then use it twice.
    const action = new URL(upstreamForm.$('form#upstream-login').attr('action')!, upstreamForm.url).href;
    let res = await browser.request(action, { form: { ...yahooAlice, action: 'login' } });
    while (res.location && !res.location.startsWith(`${server.issuer}/federation/`)) res = await browser.request(res.location);
    const callback = res.location!;
    const taken = await browser.go(callback);
    assert.equal(taken.status, 409);
    assert.match(taken.html, /already linked to another account/);
    const replay = await browser.go(callback);
    assert.equal(replay.status, 400);
    assert.match(replay.html, /already used/);
    assert.deepEqual((await server.stepgate.links.forAccount(bob.id)), []);
    assert.equal((await server.stepgate.links.find(yahoo.issuer, yahooAlice.sub))?.accountId, alice.id, 'still Alice\'s');
  });

  it('linking needs a recent login with every factor the account has: a password-only session of a TOTP user is refused', async () => {
    await addUser(server, 'carol');
    const browser = new Browser(RP_CALLBACK);
    assert.ok(reachedApp(await login('pwd-app', browser, { username: 'carol' })), 'a password-only client lets carol in');
    const account = await browser.go(`${server.issuer}/account`);
    assert.equal(account.status, 200);
    const refused = await browser.submit(account, {}, /\/account\/link\/yahoo$/);
    assert.equal(refused.status, 403);
    assert.match(refused.$('.message').text(), /every factor of your account/);
    assert.equal(refused.$('form#upstream-login').length, 0, 'never sent upstream');
  });
});
