import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { freePort, startStepgate, type TestServer } from '../support/server.ts';
import { addUser, PASSWORD, totpCode } from '../support/fixtures.ts';
import { randomBytes } from 'node:crypto';
import { readmeSnippet } from '../support/readme.ts';
import { inProcessCli } from '../support/cli.ts';
import { startTlsFront, tlsFrontMissing, type TlsFront } from '../support/tls-front.ts';
import { apacheMissing, startApache } from './apache.ts';

const CHROMIUM = '/usr/bin/chromium';
const missing = apacheMissing() ?? tlsFrontMissing() ?? (existsSync(CHROMIUM) ? undefined : `${CHROMIUM} is not installed (apt-get install chromium)`);

/**
 * Apache 2.4 + mod_auth_openidc (Debian's packages) as a relying party nobody here wrote,
 * configured with README.md's snippet as printed (only addresses and secrets replaced), with
 * stepgate behind TLS: Chromium signs in through a password,totp chain, the protected
 * application receives the claims, RP-initiated logout and back-channel logout end the
 * application's session.
 */
describe('peers: Apache mod_auth_openidc as relying party, through Chromium', function () {
  this.timeout(120_000);
  let server: TestServer;
  let apache: Awaited<ReturnType<typeof startApache>>;
  let browser: Browser;
  let front: TlsFront;
  let issuer: string;
  const secretKey = randomBytes(32).toString('base64');
  let alice: Awaited<ReturnType<typeof addUser>>;

  before(async function () {
    if (missing) {
      console.log(`    skipped: ${missing}`);
      this.skip();
    }
    const [stepgatePort, frontPort, port] = [await freePort(), await freePort(), await freePort()];
    issuer = `https://127.0.0.1:${frontPort}`;
    server = await startStepgate({ port: stepgatePort, secretKey, overrides: { issuer, trustedProxies: '1' } });
    front = await startTlsFront(stepgatePort, frontPort);
    alice = await addUser(server, 'alice');
    const base = `http://127.0.0.1:${port}`;
    await server.stepgate.clients.create({
      clientId: 'apache', secret: 'apache-secret-0123456789', redirectUris: [`${base}/protected/redirect_uri`], chain: 'password,totp',
      grantTypes: ['authorization_code', 'refresh_token'],
      settings: {
        name: 'Apache', postLogoutRedirectUris: [`${base}/bye.html`],
        backchannelLogoutUri: `${base}/protected/redirect_uri?logout=backchannel`, backchannelLogoutSessionRequired: true, allowPrivateNetwork: true,
      },
    });
    const oidc = readmeSnippet('mod_auth_openidc', {
      'https://login.example.com': issuer, 'https://app.example.com': base,
      '<secret>': 'apache-secret-0123456789', '<random>': Buffer.from(crypto.getRandomValues(new Uint8Array(24))).toString('hex'),
    });
    apache = await startApache({ port, oidc, caFile: front.caFile });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-background-networking', '--disable-gpu', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
  });
  after(async () => {
    await browser?.close();
    await apache?.stop();
    await front?.close();
    await server?.stop();
  });

  /**
   * Signs `username` in at stepgate's pages (password, then TOTP, then consent when
   * asked); returns the application's response. One user per test: a TOTP code is single-use.
   */
  async function signIn(page: Page, username: string) {
    const user = username === 'alice' ? alice : await addUser(server, username);
    const response = page.waitForResponse((r) => r.url().startsWith(`${apache.base}/protected/index.html`) && r.status() === 200);
    await page.goto(`${apache.base}/protected/index.html`);
    await page.fill('input[name=username]', username);
    await page.fill('input[name=password]', PASSWORD);
    await page.click('button[type=submit].primary');
    await page.waitForSelector('input[name=code]');
    await page.fill('input[name=code]', await totpCode(user.totpSecret));
    await page.click('button[type=submit].primary');
    await page.waitForURL((u) => u.href.startsWith(apache.base) || u.pathname.includes('/interaction/'));
    if (await page.locator('button[value=allow]').count()) await page.click('button[value=allow]');
    await page.waitForSelector('#app');
    return response;
  }

  it('signs in through password + TOTP; the application receives the claims', async () => {
    const page = await (await browser.newContext({ ignoreHTTPSErrors: true })).newPage();
    const headers = (await signIn(page, 'alice')).headers();
    assert.equal(headers['x-claim-sub'], alice.id);
    assert.equal(headers['x-claim-username'], 'alice');
    assert.deepEqual(headers['x-claim-amr']!.split(',').sort(), ['mfa', 'otp', 'pwd']);
    assert.equal(headers['x-claim-acr'], 'urn:stepgate:acr:multi-step');
    await page.context().close();
  });

  it('RP-initiated logout from Apache ends the stepgate session: the next visit asks for the password', async () => {
    const page = await (await browser.newContext({ ignoreHTTPSErrors: true })).newPage();
    await signIn(page, 'bob');
    await page.goto(`${apache.base}/protected/redirect_uri?logout=${encodeURIComponent(`${apache.base}/bye.html`)}`);
    await page.click('button[name=logout][value=yes]');
    await page.waitForSelector('#bye');
    await page.goto(`${apache.base}/protected/index.html`);
    await page.waitForSelector('input[name=password]');
    assert.ok(page.url().startsWith(issuer), 'sent back to stepgate to sign in');
    await page.context().close();
  });

  it('back-channel logout: signing out at stepgate ends the Apache session', async () => {
    const page = await (await browser.newContext({ ignoreHTTPSErrors: true })).newPage();
    await signIn(page, 'carol');
    await page.goto(`${issuer}/logout`);
    await page.click('button[name=logout][value=yes]');
    await page.waitForURL(`${issuer}/logout/success`);
    assert.doesNotMatch(apache.errorLog(), /error/i, 'mod_auth_openidc accepted the logout token');
    await page.goto(`${apache.base}/protected/index.html`);
    await page.waitForSelector('input[name=password]');
    assert.ok(page.url().startsWith(issuer), 'the application no longer lets the browser in');
    await page.context().close();
  });

  it('an admin disabling the account with the CLI ends the Apache session (logout token signed outside the server)', async () => {
    const page = await (await browser.newContext({ ignoreHTTPSErrors: true })).newPage();
    await signIn(page, 'dave');
    const disabled = await inProcessCli(server, secretKey)(['user', 'disable', 'dave']);
    assert.equal(disabled.code, 0, disabled.stderr);
    assert.doesNotMatch(apache.errorLog(), /error/i, `mod_auth_openidc accepted the logout token:\n${apache.errorLog()}`);
    await page.goto(`${apache.base}/protected/index.html`);
    await page.waitForSelector('input[name=password]');
    assert.ok(page.url().startsWith(issuer), 'the application no longer lets the browser in');
    await page.context().close();
  });
});
