import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { startStepgate, type TestServer } from '../support/server.ts';
import { Browser, type Page } from '../support/browser.ts';
import { addClient, addUser, beginLogin, completeLogin, relyingParty, RP_CALLBACK, PASSWORD } from '../support/fixtures.ts';

function assertHardened(page: Page, what: string) {
  const csp = page.headers.get('content-security-policy') ?? '';
  assert.match(csp, /default-src 'none'/, `${what}: CSP default-src`);
  assert.match(csp, /frame-ancestors 'none'/, `${what}: CSP frame-ancestors`);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/, `${what}: no unsafe CSP`);
  assert.equal(page.headers.get('x-content-type-options'), 'nosniff', `${what}: nosniff`);
  assert.equal(page.headers.get('x-frame-options'), 'DENY', `${what}: X-Frame-Options`);
  assert.equal(page.headers.get('referrer-policy'), 'no-referrer', `${what}: Referrer-Policy`);
  assert.match(page.headers.get('cache-control') ?? '', /no-store/, `${what}: not cached`);
  // Scripts only as same-origin files under /assets/ (CSP script-src 'self'), never inline.
  assert.equal(page.$('script:not([src])').length, 0, `${what}: no inline script`);
  for (const s of page.$('script[src]').toArray()) assert.match(page.$(s).attr('src')!, /^\/assets\//, `${what}: script from /assets/`);
  assert.equal(page.$('[style]').length + page.$('style').length, 0, `${what}: no inline style`);
}

describe('attacks: headers on every page we render', function () {
  this.timeout(30_000);
  let server: TestServer;
  let rp: oidc.Configuration;

  before(async () => {
    server = await startStepgate();
    rp = await relyingParty(server, await addClient(server, 'webapp', 'password,totp|password'));
  });
  after(async () => server.stop());

  it('login, choice, TOTP, consent, errors, logout pages all carry the security headers', async () => {
    const user = await addUser(server, 'hdr');
    const browser = new Browser(RP_CALLBACK);
    const pages: [string, Page][] = [];
    const login = await browser.go((await beginLogin(rp)).url.href);
    pages.push(['password form', login]);
    const choose = await browser.submit(login, { username: 'hdr', password: PASSWORD });
    assert.equal(choose.$('button[name=option]').length, 2, 'step 2 offers two methods');
    pages.push(['choose a method', choose]);
    const totp = await browser.submit(choose, {}, /choose/, { name: 'option', value: 'totp' });
    assert.equal(totp.$('input[name=code]').length, 1);
    pages.push(['TOTP form', totp]);
    const wrong = await browser.submit(totp, { code: '000000' });
    pages.push(['TOTP form with an error', wrong]);
    // Switch to the other method of the step, and answer it.
    const switched = await browser.submit(wrong, {}, /choose/, { name: 'option', value: '' });
    pages.push(['choose again', switched]);
    const pwd2 = await browser.submit(switched, {}, /choose/, { name: 'option', value: 'password' });
    assert.equal(pwd2.$('input[name=password]').length, 1);
    const consent = await browser.submit(pwd2, { username: 'hdr', password: PASSWORD });
    assert.equal(consent.$('button[value=allow]').length, 1);
    pages.push(['consent', consent]);
    pages.push(['interaction error', await new Browser().request(`${server.issuer}/interaction/nope`)]);
    pages.push(['provider error', await new Browser().request(`${server.issuer}/authorize?client_id=unknown&response_type=code&scope=openid`)]);
    pages.push(['logout confirm', await browser.go(`${server.issuer}/logout`)]);
    pages.push(['not found', await browser.request(`${server.issuer}/no-such-page`)]);
    for (const [what, page] of pages) assertHardened(page, what);
    void user;
  });

  it('the logged-out page carries them too', async () => {
    const user = await addUser(server, 'hdr2');
    const browser = new Browser(RP_CALLBACK);
    const simple = await relyingParty(server, await addClient(server, 'simple', 'password'));
    await completeLogin(browser, (await beginLogin(simple)).url, user);
    const confirm = await browser.go(`${server.issuer}/logout`);
    const done = await browser.submit(confirm, {}, /logout/, { name: 'logout', value: 'yes' });
    assertHardened(done, 'logged out');
  });

  it('answers to programs are never run, framed or sniffed; a browser that opens an API address gets a hardened page', async () => {
    const client = await addClient(server, 'backend', 'password', { grants: ['client_credentials'] });
    const basic = `Basic ${Buffer.from(`${client.clientId}:${client.secret}`).toString('base64')}`;
    const post = (path: string, body: string) => fetch(`${server.issuer}${path}`, { method: 'POST', body, headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' } });
    const token = await post('/token', 'grant_type=client_credentials');
    assert.equal(token.status, 200);
    const { access_token: accessToken } = (await token.json()) as { access_token: string };
    const refused = await post('/token', 'grant_type=password');
    assert.equal(refused.status, 400);
    for (const [what, res] of [['token', token], ['refused grant', refused], ['introspection', await post('/introspect', `token=${accessToken}`)], ['jwks', await fetch(`${server.issuer}/jwks`)]] as const) {
      assert.match(res.headers.get('content-type') ?? '', /^application\/(json|jwk-set\+json)/, `${what}: JSON`);
      const csp = res.headers.get('content-security-policy') ?? '';
      assert.match(csp, /default-src 'none'/, `${what}: nothing in it runs`);
      assert.match(csp, /frame-ancestors 'none'/, `${what}: never framed`);
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff', `${what}: never sniffed`);
    }
    const page = await new Browser().request(`${server.issuer}/token`, { headers: { accept: 'text/html' } });
    assert.ok(page.status >= 400 && page.status < 500, `a page saying what went wrong (${page.status})`);
    assertHardened(page, 'error page at /token');
  });
});
