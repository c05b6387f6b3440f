import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { startStepgate, type TestServer } from '../support/server.ts';
import { Browser, type Page } from '../support/browser.ts';
import { addClient, addUser, beginLogin, relyingParty, RP_CALLBACK, PASSWORD } from '../support/fixtures.ts';

/**
 * "Not you?" on the consent page leads somewhere that works: for an ordinary client the
 * same request again with prompt=login; for a client that requires pushed requests (PAR),
 * whose pushed request cannot be replayed as a plain /authorize, signing out here.
 */
describe('consent: "Not you?" works for every client', function () {
  this.timeout(30_000);
  let server: TestServer;

  before(async () => {
    server = await startStepgate();
    await addUser(server, 'nora', { totp: false });
    await addUser(server, 'otto', { totp: false });
    await addClient(server, 'plain', 'password');
    await addClient(server, 'pushed', 'password');
    const pushed = (await server.stepgate.clients.get('pushed'))!;
    await server.stepgate.clients.update('pushed', { grantTypes: pushed.grantTypes, settings: { ...pushed.settings, requirePushedAuthorizationRequests: true } });
  });
  after(async () => server.stop());

  /** Signs `username` in with the password and returns the consent page. */
  async function toConsent(browser: Browser, url: URL, username: string): Promise<Page> {
    const page = await browser.go(url.href);
    const consent = await browser.submit(page, { username, password: PASSWORD });
    assert.equal(consent.$('button[value=allow]').length, 1, consent.html.slice(0, 800));
    assert.match(consent.$('main').text(), new RegExp(`Signed in as ${username}\\.`));
    return consent;
  }

  it('an ordinary client: the link asks for a fresh sign-in, and whoever signs in then is the one who consents', async () => {
    const rp = await relyingParty(server, { clientId: 'plain', secret: 'plain-secret-0123456789' });
    const browser = new Browser(RP_CALLBACK);
    const consent = await toConsent(browser, (await beginLogin(rp)).url, 'nora');
    const link = consent.$('a', 'main').filter((_, a) => /Not you\? Sign in as someone else/.test(consent.$(a).text())).attr('href')!;
    assert.match(link, /^\/authorize\?.*prompt=login/);
    const again = await browser.go(`${server.issuer}${link}`);
    assert.equal(again.status, 200);
    assert.equal(again.$('input[name=password]').length, 1, 'a new sign-in');
    let otto = await browser.submit(again, { username: 'otto', password: PASSWORD });
    // oidc-provider ends nora's session first (its self-submitting logout form, whose
    // script hash the CSP allows; a browser without scripts presses Continue).
    if (otto.$('form[action$="/logout/confirm"]').length) {
      assert.match(otto.headers.get('content-security-policy') ?? '', /script-src 'self' 'sha256-/, 'a real browser runs the auto-submit');
      otto = await browser.submit(otto, {});
    }
    assert.match(otto.$('main').text(), /Signed in as otto\./, `${otto.status} ${otto.location} ${otto.html.slice(0, 800)}`);
  });

  it('a client that requires PAR: no replay of its request (it would be refused); signing out is offered, and works', async () => {
    const rp = await relyingParty(server, { clientId: 'pushed', secret: 'pushed-secret-0123456789' });
    const url = await oidc.buildAuthorizationUrlWithPAR(rp, {
      redirect_uri: RP_CALLBACK, scope: 'openid', state: oidc.randomState(),
      code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256',
    });
    const browser = new Browser(RP_CALLBACK);
    const consent = await toConsent(browser, url, 'nora');
    assert.equal(consent.$('main a[href^="/authorize"]').length, 0, 'no link that would end in "invalid_request"');
    const signOut = consent.$('#not-you-sign-out');
    assert.match(signOut.text(), /Not you\? Sign out, then start again from App pushed/);
    const logout = await browser.go(`${server.issuer}${signOut.attr('href')}`);
    assert.equal(logout.status, 200);
    const out = await browser.submit(logout, {}, undefined, { name: 'logout', value: 'yes' });
    assert.equal(out.status, 200, out.html.slice(0, 500));
    // Signed out: the application's next (pushed) request asks who is signing in.
    const next = await oidc.buildAuthorizationUrlWithPAR(rp, {
      redirect_uri: RP_CALLBACK, scope: 'openid', state: oidc.randomState(),
      code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256',
    });
    const fresh = await browser.go(next.href);
    assert.equal(fresh.$('input[name=password]').length, 1, 'signed out: a new sign-in');
  });
});
