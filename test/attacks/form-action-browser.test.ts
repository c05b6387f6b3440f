import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { chromium, type Browser } from 'playwright-core';
import * as oidc from 'openid-client';
import { startStepgate, type TestServer } from '../support/server.ts';
import { addUser, beginLogin, relyingParty, PASSWORD } from '../support/fixtures.ts';

const CHROMIUM = '/usr/bin/chromium';

/**
 * CSP `form-action 'self'` in a real browser. Chromium checks every redirect that follows
 * a form submission against the submitting page's form-action, so the consent form (which
 * posts to us and is then redirected to the client) works only because the login pages add
 * the client's redirect origin — and nothing else — to form-action.
 */
describe('CSP form-action in a real browser (chromium)', function () {
  this.timeout(90_000);
  let server: TestServer;
  let browser: Browser;
  let callback: Server;
  let callbackUrl: string;
  const arrived: string[] = [];

  before(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium) to run the browser test`);
    callback = createServer((req, res) => {
      arrived.push(req.url ?? '');
      res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>callback</title><p>back at the client</p>');
    });
    callback.listen(0, '127.0.0.1');
    await once(callback, 'listening');
    callbackUrl = `http://127.0.0.1:${(callback.address() as { port: number }).port}/callback`;
    server = await startStepgate();
    await addUser(server, 'una', { totp: false });
    await server.stepgate.clients.create({ clientId: 'other-origin', secret: 'other-origin-secret-0123', redirectUris: [callbackUrl], grantTypes: ['authorization_code'], chain: 'password', settings: {} });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-background-networking', '--disable-gpu', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
    callback?.close();
  });

  it('password, then consent: the browser follows the redirects to the client\'s origin, with no CSP violation', async () => {
    const rp: oidc.Configuration = await relyingParty(server, { clientId: 'other-origin', secret: 'other-origin-secret-0123' });
    const login = await beginLogin(rp, { redirect_uri: callbackUrl });
    const page = await (await browser.newContext()).newPage();
    const violations: string[] = [];
    page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) violations.push(m.text()); });
    const first = await page.goto(login.url.href);
    const csp = first?.headers()['content-security-policy'] ?? '';
    assert.match(csp, new RegExp(`form-action 'self' ${new URL(callbackUrl).origin.replace(/\./g, '\\.')}(;|$)`), 'self and the client\'s redirect origin, nothing else');
    await page.fill('input[name=username]', 'una');
    await page.fill('input[name=password]', PASSWORD);
    await page.click('button[type=submit].primary');
    await page.click('button[value=allow]');
    await page.waitForURL(`${callbackUrl}?**`);
    assert.deepEqual(violations, []);
    // (Chromium also asks the client's origin for /favicon.ico)
    const query = new URL(arrived.find((u) => u.startsWith('/callback?'))!, callbackUrl).searchParams;
    assert.equal(query.get('state'), login.state);
    assert.ok(query.get('code'), 'the code reached the client');
  });
});
