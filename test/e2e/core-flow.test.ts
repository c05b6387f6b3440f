import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { startStepgate, type TestServer } from '../support/server.ts';
import { Browser } from '../support/browser.ts';
import { addClient, addUser, beginLogin, completeLogin, relyingParty, RP_CALLBACK, PASSWORD, totpCode } from '../support/fixtures.ts';

describe('core flow: password + TOTP through a real relying party', function () {
  this.timeout(30_000);
  let server: TestServer;
  let alice: Awaited<ReturnType<typeof addUser>>;
  let rp: oidc.Configuration;

  before(async () => {
    server = await startStepgate();
    alice = await addUser(server, 'alice');
    const client = await addClient(server, 'webapp', 'password,totp');
    rp = await relyingParty(server, client);
  });
  after(async () => server.stop());

  it('discovery → authorize → password → TOTP → consent → code → tokens → userinfo → refresh → revoke → introspect', async () => {
    const login = await beginLogin(rp);
    const browser = new Browser(RP_CALLBACK);
    const last = await completeLogin(browser, login.url, alice);
    const tokens = await oidc.authorizationCodeGrant(rp, new URL(last.location!), { pkceCodeVerifier: login.verifier, expectedState: login.state });

    const claims = tokens.claims()!;
    assert.equal(claims.sub, alice.id);
    assert.deepEqual([...(claims.amr as string[])].sort(), ['mfa', 'otp', 'pwd']);
    assert.equal(claims.acr, 'urn:stepgate:acr:multi-step');
    assert.equal(typeof claims.auth_time, 'number');

    const userinfo = await oidc.fetchUserInfo(rp, tokens.access_token, alice.id);
    assert.equal(userinfo.preferred_username, 'alice');

    assert.ok(tokens.refresh_token, 'a refresh token is issued');
    const refreshed = await oidc.refreshTokenGrant(rp, tokens.refresh_token!);
    assert.notEqual(refreshed.refresh_token, tokens.refresh_token, 'refresh tokens rotate');
    assert.equal((await oidc.tokenIntrospection(rp, refreshed.access_token)).active, true);

    await oidc.tokenRevocation(rp, refreshed.access_token);
    assert.equal((await oidc.tokenIntrospection(rp, refreshed.access_token)).active, false);
  });

  it('id_token is RS256 by default and verifies against /jwks', async () => {
    const login = await beginLogin(rp);
    const browser = new Browser(RP_CALLBACK);
    const last = await completeLogin(browser, login.url, alice, { totpOffset: 1 });
    const tokens = await oidc.authorizationCodeGrant(rp, new URL(last.location!), { pkceCodeVerifier: login.verifier, expectedState: login.state });
    const header = JSON.parse(Buffer.from(tokens.id_token!.split('.')[0]!, 'base64url').toString()) as { alg: string };
    assert.equal(header.alg, 'RS256');
    const jwks = await (await fetch(`${server.issuer}/jwks`)).json() as { keys: { alg: string; d?: string }[] };
    assert.deepEqual(jwks.keys.map((k) => k.alg).sort(), ['ES256', 'EdDSA', 'RS256']);
    assert.ok(jwks.keys.every((k) => k.d === undefined), 'no private key material is published');
  });

  it('a wrong password shows the form again with one generic message, and no code', async () => {
    const login = await beginLogin(rp);
    const browser = new Browser(RP_CALLBACK);
    const form = await browser.go(login.url.href);
    const wrong = await browser.submit(form, { username: 'alice', password: 'not the password' });
    assert.equal(wrong.status, 400);
    assert.match(wrong.$('.error').text(), /do not match/);
    const unknown = await browser.submit(wrong, { username: 'nobody-here', password: 'not the password' });
    assert.equal(unknown.status, 400);
    assert.equal(unknown.$('.error').text(), wrong.$('.error').text(), 'unknown user and wrong password look the same');
    assert.equal(unknown.$('input[name=password]').length, 1);
  });

  it('a wrong, an expired and a reused TOTP code are refused', async () => {
    const bob = await addUser(server, 'bob');
    const login = await beginLogin(rp);
    const browser = new Browser(RP_CALLBACK);
    let page = await browser.go(login.url.href);
    page = await browser.submit(page, { username: 'bob', password: PASSWORD });
    assert.equal(page.$('input[name=code]').length, 1, 'TOTP step follows the password');

    const current = await totpCode(bob.totpSecret);
    const wrong = String((Number(current) + 1) % 1_000_000).padStart(6, '0');
    page = await browser.submit(page, { code: wrong });
    assert.equal(page.status, 400);
    page = await browser.submit(page, { code: await totpCode(bob.totpSecret, -3) });
    assert.equal(page.status, 400, 'a code from 90 seconds ago is expired');

    page = await browser.submit(page, { code: current });
    assert.notEqual(page.$('input[name=code]').length, 1, 'the current code is accepted');

    // A second login right away cannot reuse the same code.
    const again = new Browser(RP_CALLBACK);
    const login2 = await beginLogin(rp);
    let p2 = await again.go(login2.url.href);
    p2 = await again.submit(p2, { username: 'bob', password: PASSWORD });
    p2 = await again.submit(p2, { code: current });
    assert.equal(p2.status, 400);
    assert.match(p2.$('.error').text(), /not right/);
  });

  it('a step posted out of order is refused and nothing advances', async () => {
    const login = await beginLogin(rp);
    const browser = new Browser(RP_CALLBACK);
    const form = await browser.go(login.url.href);
    const action = form.$('form').attr('action')!;
    const csrf = form.$('input[name=_csrf]').attr('value')!;
    const skip = await browser.request(new URL(action.replace(/step\/0$/, 'step/1'), server.issuer).href, { form: { _csrf: csrf, code: await totpCode(alice.totpSecret) } });
    assert.equal(skip.status, 409);
    const still = await browser.go(form.url);
    assert.equal(still.$('input[name=password]').length, 1, 'still on step 1');
  });

  it('a form posted without the CSRF token is refused', async () => {
    const login = await beginLogin(rp);
    const browser = new Browser(RP_CALLBACK);
    const form = await browser.go(login.url.href);
    const action = new URL(form.$('form').attr('action')!, server.issuer).href;
    const res = await browser.request(action, { form: { username: 'alice', password: PASSWORD } });
    assert.equal(res.status, 403);
  });

  it('a code is redeemed once; the second redemption fails and revokes the first tokens', async () => {
    const login = await beginLogin(rp);
    const browser = new Browser(RP_CALLBACK);
    const last = await completeLogin(browser, login.url, await addUser(server, 'dave'));
    const tokens = await oidc.authorizationCodeGrant(rp, new URL(last.location!), { pkceCodeVerifier: login.verifier, expectedState: login.state });
    await assert.rejects(
      oidc.authorizationCodeGrant(rp, new URL(last.location!), { pkceCodeVerifier: login.verifier, expectedState: login.state }),
      (err: { error?: string }) => err.error === 'invalid_grant');
    assert.equal((await oidc.tokenIntrospection(rp, tokens.access_token)).active, false);
  });

  it('a code cannot be redeemed by another client', async () => {
    const other = await addClient(server, 'other-app', 'password');
    const otherRp = await relyingParty(server, other);
    const login = await beginLogin(rp);
    const browser = new Browser(RP_CALLBACK);
    const last = await completeLogin(browser, login.url, await addUser(server, 'carol'));
    await assert.rejects(
      oidc.authorizationCodeGrant(otherRp, new URL(last.location!), { pkceCodeVerifier: login.verifier, expectedState: login.state }),
      (err: { error?: string }) => err.error === 'invalid_grant');
  });

  it('a redirect_uri that is not registered gets an error page, never a redirect', async () => {
    const url = new URL(`${server.issuer}/authorize`);
    url.search = new URLSearchParams({ client_id: 'webapp', response_type: 'code', scope: 'openid', redirect_uri: 'https://evil.example/cb' }).toString();
    const page = await new Browser().request(url.href);
    assert.equal(page.status, 400);
    assert.equal(page.location, undefined);
    assert.match(page.html, /redirect_uri|not registered/i);
    assert.doesNotMatch(page.html, /at .*\.js:\d+/, 'no stack trace');
  });

  it('a public client must use PKCE', async () => {
    await addClient(server, 'spa', 'password', { secret: null });
    const url = new URL(`${server.issuer}/authorize`);
    url.search = new URLSearchParams({ client_id: 'spa', response_type: 'code', scope: 'openid', redirect_uri: RP_CALLBACK, state: 's1' }).toString();
    const res = await new Browser().request(url.href);
    assert.ok(res.location?.startsWith(RP_CALLBACK), 'error goes back to the registered redirect_uri');
    const params = new URL(res.location!).searchParams;
    assert.equal(params.get('error'), 'invalid_request');
    assert.match(params.get('error_description') ?? '', /PKCE/);
  });

  it('a login whose chain lost an authenticator (an identity provider removed) ends with a clear page, not a 500', async () => {
    await addUser(server, 'gone');
    const login = await beginLogin(rp);
    const browser = new Browser(RP_CALLBACK);
    const form = await browser.go(login.url.href);
    const totpPage = await browser.submit(form, { username: 'gone', password: PASSWORD });
    const uid = new URL(totpPage.url).pathname.split('/')[2]!;
    const [row] = await server.stepgate.db.select<{ data: string }>('SELECT data FROM flow_states WHERE uid = :uid', { uid });
    const data = JSON.parse(row!.data) as { chain: string };
    data.chain = 'password,removed-idp';
    await server.stepgate.db.change('UPDATE flow_states SET data = :data WHERE uid = :uid', { data: JSON.stringify(data), uid });
    const page = await browser.go(totpPage.url);
    assert.equal(page.status, 409);
    assert.match(page.$('.message').text(), /sign-in methods of this application changed/);
  });

  it('a password asked twice is one factor: no "mfa", single-step acr', async () => {
    const twice = await relyingParty(server, await addClient(server, 'twice', 'password,totp|password'));
    await addUser(server, 'twice-user');
    const login = await beginLogin(twice);
    const browser = new Browser(RP_CALLBACK);
    let page = await browser.go(login.url.href);
    page = await browser.submit(page, { username: 'twice-user', password: PASSWORD });
    page = await browser.submit(page, {}, /choose/, { name: 'option', value: 'password' });
    page = await browser.submit(page, { username: 'twice-user', password: PASSWORD });
    page = await browser.submit(page, {}, /consent/, { name: 'decision', value: 'allow' });
    const tokens = await oidc.authorizationCodeGrant(twice, new URL(page.location!), { pkceCodeVerifier: login.verifier, expectedState: login.state });
    assert.deepEqual(tokens.claims()!.amr, ['pwd']);
    assert.equal(tokens.claims()!.acr, 'urn:stepgate:acr:single-step');
  });

  it('consent lists API scopes too, not only the OpenID ones', async () => {
    await addClient(server, 'api-app', 'password');
    await server.stepgate.clients.update('api-app', { grantTypes: ['authorization_code', 'refresh_token'], settings: { name: 'App api-app', scopes: ['update'] } });
    const apiRp = await relyingParty(server, { clientId: 'api-app', secret: 'api-app-secret-0123456789' });
    await addUser(server, 'consenter');
    const login = await beginLogin(apiRp, { scope: 'openid update', resource: `${server.issuer}/api` });
    const browser = new Browser(RP_CALLBACK);
    let page = await browser.go(login.url.href);
    page = await browser.submit(page, { username: 'consenter', password: PASSWORD });
    assert.equal(page.$('button[value=allow]').length, 1, page.html.slice(0, 500));
    assert.match(page.$('.scopes').text(), /"update"/);
  });
});
