import assert from 'node:assert/strict';
import fc from 'fast-check';
import { startStepgate, type TestServer } from '../support/server.ts';
import { Browser } from '../support/browser.ts';
import { addClient, addUser, beginLogin, relyingParty, RP_CALLBACK } from '../support/fixtures.ts';

/** Bad input never earns a 5xx: protocol endpoints answer an OAuth error body, pages an error page. */
describe('attacks: property-based fuzzing of every input path', function () {
  this.timeout(120_000);
  let server: TestServer;
  let loginUrl: string;
  let browser: Browser;
  let stepAction: string;

  const key = fc.oneof(
    fc.constantFrom('grant_type', 'code', 'refresh_token', 'token', 'token_type_hint', 'client_id', 'client_secret', 'redirect_uri',
      'scope', 'response_type', 'state', 'nonce', 'code_challenge', 'code_challenge_method', 'code_verifier', 'prompt', 'max_age',
      'request', 'request_uri', 'username', 'password', 'code', '_csrf', 'option', 'claims', 'resource', 'acr_values'),
    fc.string({ maxLength: 20 }),
  );
  const value = fc.oneof(
    fc.string({ maxLength: 64 }),
    fc.constantFrom('authorization_code', 'refresh_token', 'client_credentials', 'password', 'openid', 'webapp', RP_CALLBACK, '', '%00', '\u0000', '{"a":', 'A'.repeat(5000)),
    fc.string({ unit: 'grapheme', maxLength: 30 }),
  );
  const params = fc.array(fc.tuple(key, value), { maxLength: 12 });
  const contentType = fc.constantFrom('application/x-www-form-urlencoded', 'application/json', 'text/plain', 'multipart/form-data; boundary=x', 'application/x-www-form-urlencoded; charset=latin1', '');
  const authorization = fc.oneof(
    fc.constant(undefined),
    fc.constant(`Basic ${Buffer.from('webapp:webapp-secret-0123456789').toString('base64')}`),
    fc.string({ maxLength: 40 }).map((s) => `Basic ${s}`),
    fc.string({ maxLength: 40 }).map((s) => `Basic ${Buffer.from(s).toString('base64')}`),
    fc.string({ maxLength: 40 }),
  );
  const cookie = fc.oneof(fc.constant(undefined), fc.string({ maxLength: 80 }).map((s) => `_session=${encodeURIComponent(s)}; _interaction=${encodeURIComponent(s)}`));

  function body(pairs: [string, string][], type: string): string {
    if (type === 'application/json') return JSON.stringify(Object.fromEntries(pairs));
    return new URLSearchParams(pairs).toString();
  }

  before(async () => {
    server = await startStepgate();
    await addUser(server, 'fuzzed');
    const rp = await relyingParty(server, await addClient(server, 'webapp', 'password,totp'));
    loginUrl = (await beginLogin(rp)).url.href;
    browser = new Browser(RP_CALLBACK);
    const page = await browser.go(loginUrl);
    stepAction = new URL(page.$('form').attr('action')!, server.issuer).href;
  });
  after(async () => server.stop());

  for (const path of ['/token', '/revoke', '/introspect']) {
    it(`POST ${path}: no 5xx, always a JSON error body`, async () => {
      await fc.assert(fc.asyncProperty(params, contentType, authorization, async (pairs, type, auth) => {
        const headers: Record<string, string> = {};
        if (type) headers['content-type'] = type;
        if (auth !== undefined) headers.authorization = auth;
        const res = await fetch(`${server.issuer}${path}`, { method: 'POST', headers, body: body(pairs, type) });
        const text = await res.text();
        assert.ok(res.status < 500, `${res.status} ${text}`);
        if (res.status >= 400) assert.equal(typeof (JSON.parse(text) as { error?: unknown }).error, 'string', text);
      }), { numRuns: 120 });
    });
  }

  it('GET /authorize: no 5xx; an error page or a redirect', async () => {
    await fc.assert(fc.asyncProperty(params, cookie, async (pairs, c) => {
      const res = await fetch(`${server.issuer}/authorize?${new URLSearchParams(pairs)}`, { redirect: 'manual', headers: c ? { cookie: c } : {} });
      const text = await res.text();
      assert.ok(res.status < 500, `${res.status} ${text.slice(0, 300)}`);
      if (res.status >= 400) assert.match(text, /<html/);
    }), { numRuns: 150 });
  });

  // Form fields the step pages read, repeated often (a repeated field arrives as an array).
  const formParams = fc.array(fc.tuple(fc.oneof(fc.constantFrom('_csrf', 'username', 'password', 'code', 'option', 'decision'), key), value), { maxLength: 10 });

  it('POST to the step forms: no 5xx; a page that says what is wrong', async () => {
    await fc.assert(fc.asyncProperty(formParams, contentType, fc.boolean(), async (pairs, type, withoutCookies) => {
      const withCookies = !withoutCookies || pairs.length % 3 !== 0;
      const headers: Record<string, string> = {};
      if (type) headers['content-type'] = type;
      if (withCookies) headers.cookie = await browser.jar.getCookieString(stepAction);
      const target = fc.sample(fc.constantFrom(stepAction, stepAction.replace(/step\/0$/, 'step/1'), stepAction.replace(/step\/0$/, 'choose/0'), stepAction.replace(/step\/0$/, 'consent'), stepAction.replace(/step\/0$/, 'abort'), stepAction.replace(/step\/0$/, 'step/-1'), stepAction.replace(/step\/0$/, 'step/9e99')), 1)[0]!;
      const res = await fetch(target, { method: 'POST', headers, body: body(pairs, type), redirect: 'manual' });
      const text = await res.text();
      assert.ok(res.status < 500, `${res.status} ${target} ${text.slice(0, 300)}`);
    }), { numRuns: 150 });
  });

  it('NUL bytes in identifiers are plain bad input on every database', async () => {
    const authorize = await fetch(`${server.issuer}/authorize?client_id=%00&response_type=code&scope=openid`, { redirect: 'manual' });
    assert.equal(authorize.status, 400);
    const token = await fetch(`${server.issuer}/token`, { method: 'POST', headers: { authorization: `Basic ${Buffer.from('we\u0000bapp:x').toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials' });
    assert.ok(token.status === 400 || token.status === 401, String(token.status));
    assert.equal(typeof ((await token.json()) as { error?: unknown }).error, 'string');
    const fresh = new Browser(RP_CALLBACK);
    const page = await fresh.go(loginUrl.replace(/state=[^&]+/, 'state=nul'));
    const answer = await fresh.submit(page, { username: 'fuz\u0000zed', password: 'x\u0000y' });
    assert.equal(answer.status, 400);
    assert.match(answer.$('.error').text(), /do not match/);
  });

  it('oversized bodies are refused with 413, not a crash', async () => {
    const big = `username=${'a'.repeat(200_000)}`;
    const res = await fetch(stepAction, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: await browser.jar.getCookieString(stepAction) }, body: big });
    assert.equal(res.status, 413);
    const token = await fetch(`${server.issuer}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `grant_type=${'a'.repeat(2_000_000)}` });
    assert.ok(token.status >= 400 && token.status < 500, String(token.status));
  });
});
