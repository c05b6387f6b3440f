import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { freePort, startStepgate, type TestServer } from '../support/server.ts';
import { Browser } from '../support/browser.ts';
import { addClient, addUser, beginLogin, completeLogin, relyingParty, RP_CALLBACK, PASSWORD, totpCode } from '../support/fixtures.ts';

async function cookie(browser: Browser, url: string, name: string) {
  return (await browser.jar.getCookies(url)).find((c) => c.key === name);
}

describe('attacks: sessions and identifiers', function () {
  this.timeout(30_000);
  let server: TestServer;
  let rp: oidc.Configuration;
  let strict: oidc.Configuration;

  before(async () => {
    server = await startStepgate();
    rp = await relyingParty(server, await addClient(server, 'webapp', 'password'));
    strict = await relyingParty(server, await addClient(server, 'bank', 'password,totp'));
  });
  after(async () => server.stop());

  it('the interaction id and its cookie change after each completed step; the old ones are dead', async () => {
    await addUser(server, 'rot');
    const browser = new Browser(RP_CALLBACK);
    const form = await browser.go((await beginLogin(strict)).url.href);
    const before = new URL(form.url).pathname;
    const totpPage = await browser.submit(form, { username: 'rot', password: PASSWORD });
    const after = new URL(totpPage.url).pathname;
    assert.notEqual(after, before, 'a new interaction URL after the password step');
    assert.equal(totpPage.$('input[name=code]').length, 1);
    // The login resumes at /authorize/<its current id>: the resume cookie moved there with it.
    const [oldUid, newUid] = [before, after].map((path) => path.split('/').pop()!);
    assert.equal((await cookie(browser, `${server.issuer}/authorize/${newUid}`, '_interaction_resume'))?.value, newUid);
    assert.equal(await cookie(browser, `${server.issuer}/authorize/${oldUid}`, '_interaction_resume'), undefined);
    const stale = await browser.request(`${server.issuer}${before}`);
    assert.equal(stale.status, 400, 'the old interaction URL no longer works');
  });

  it('session cookies are HttpOnly and SameSite=Lax, and the session id changes at login', async () => {
    const user = await addUser(server, 'sess');
    const browser = new Browser(RP_CALLBACK);
    await completeLogin(browser, (await beginLogin(rp)).url, user);
    const first = await cookie(browser, `${server.issuer}/authorize`, '_session');
    assert.ok(first, 'a session cookie');
    assert.equal(first!.httpOnly, true);
    assert.equal(first!.sameSite, 'lax');
    // A second login in the same browser (prompt=login) issues a new session id.
    await completeLogin(browser, (await beginLogin(rp, { prompt: 'login' })).url, user);
    const second = await cookie(browser, `${server.issuer}/authorize`, '_session');
    assert.notEqual(second!.value, first!.value);
  });

  it('single sign-on never skips a step the other client demands', async () => {
    const user = await addUser(server, 'sso');
    const browser = new Browser(RP_CALLBACK);
    await completeLogin(browser, (await beginLogin(rp)).url, user);
    // Signed in with a password only; the bank's chain also wants TOTP: only TOTP is asked.
    const page = await browser.go((await beginLogin(strict)).url.href);
    assert.equal(page.$('input[name=password]').length, 0, 'the password step is remembered');
    assert.equal(page.$('input[name=code]').length, 1, 'the TOTP step is asked');
    const done = await browser.submit(page, { code: await totpCode(user.totpSecret) });
    assert.ok(done.$('button[value=allow]').length === 1);
  });

  it('prompt=login re-runs the whole chain', async () => {
    const user = await addUser(server, 'fresh');
    const browser = new Browser(RP_CALLBACK);
    await completeLogin(browser, (await beginLogin(rp)).url, user);
    const page = await browser.go((await beginLogin(rp, { prompt: 'login' })).url.href);
    assert.equal(page.$('input[name=password]').length, 1);
  });

  it('logout ends the session on the server: the old cookie no longer signs anyone in', async () => {
    const user = await addUser(server, 'bye');
    const browser = new Browser(RP_CALLBACK);
    await completeLogin(browser, (await beginLogin(rp)).url, user);
    const stolen = await browser.jar.getCookieString(`${server.issuer}/authorize`);
    const confirm = await browser.go(`${server.issuer}/logout`);
    const done = await browser.submit(confirm, {}, /logout/, { name: 'logout', value: 'yes' });
    assert.match(done.html, /signed out/i);
    // Replay the old cookies: prompt=none must answer login_required.
    const url = new URL((await beginLogin(rp, { prompt: 'none' })).url);
    const res = await fetch(url, { headers: { cookie: stolen }, redirect: 'manual' });
    const location = new URL(res.headers.get('location')!);
    assert.equal(location.searchParams.get('error'), 'login_required');
  });

  it('cookies are Secure when the issuer is https (behind a trusted proxy)', async () => {
    const port = await freePort();
    const secure = await startStepgate({ port, overrides: { issuer: `https://localhost:${port}`, trustedProxies: '1' } });
    try {
      await addClient(secure, 'webapp', 'password');
      // The proxy terminated TLS and says so; stepgate itself listens on plain HTTP.
      const url = `http://localhost:${port}/authorize?client_id=webapp&response_type=code&scope=openid&redirect_uri=${encodeURIComponent(RP_CALLBACK)}`;
      const res = await fetch(url, { redirect: 'manual', headers: { 'x-forwarded-proto': 'https' } });
      const cookies = res.headers.getSetCookie();
      assert.ok(cookies.length > 0);
      assert.ok(cookies.every((c) => /;\s*secure/i.test(c) && /httponly/i.test(c) && /samesite=lax/i.test(c)), cookies.join('\n'));
    } finally {
      await secure.stop();
    }
  });
});
