import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import * as oidc from 'openid-client';
import { chromium, type Browser, type BrowserContext, type CDPSession, type Page } from 'playwright-core';
import { startStepgate, type TestServer } from '../support/server.ts';
import { addClient, addUser, beginLogin, relyingParty, PASSWORD, RP_CALLBACK, totpCode } from '../support/fixtures.ts';

const CHROMIUM = '/usr/bin/chromium';

/**
 * Passkeys in a real browser: Chromium with its virtual authenticator (CDP WebAuthn: ctap2,
 * internal transport, resident keys, user verification) registers a passkey on /account,
 * signs in with it as the first step (no username) and as the second step after a password;
 * another user's passkey is refused by the server; a removed passkey no longer signs in.
 */
describe('factors: passkeys in a real browser (chromium)', function () {
  this.timeout(300_000);
  let server: TestServer;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let cdp: CDPSession;
  let authenticatorId: string;
  let pia: Awaited<ReturnType<typeof addUser>>;
  let otto: Awaited<ReturnType<typeof addUser>>;
  const rps: Record<string, oidc.Configuration> = {};
  const cspViolations: string[] = [];

  before(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium) to run the browser test`);
    server = await startStepgate();
    pia = await addUser(server, 'pia');
    otto = await addUser(server, 'otto');
    for (const [id, chain] of [['web', 'password,totp|passkey'], ['pk-first', 'passkey|password'], ['pw-pk', 'password,passkey']] as const) {
      rps[id] = await relyingParty(server, await addClient(server, id, chain));
    }
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-background-networking', '--disable-gpu', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    context = await browser.newContext();
    // The relying party's callback is not served: the test reads the code from the URL.
    await context.route(`${RP_CALLBACK}**`, (route) => route.fulfill({ status: 200, contentType: 'text/plain', body: 'callback' }));
    page = await context.newPage();
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
    });
    cdp = await context.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    ({ authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
    }));
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  /**
   * Set once the browser asks for the relying party's callback: the login is over then,
   * whatever Chromium shows while the intercepted request is answered.
   */
  let callbackRequested = false;

  /** Starts a login at `client` in the browser; `drive` takes it to the callback; returns the tokens. */
  async function login(client: string, drive: () => Promise<void>) {
    const start = await beginLogin(rps[client]!);
    const callback = page.waitForRequest((r) => r.url().startsWith(RP_CALLBACK), { timeout: 240_000 });
    callbackRequested = false;
    void callback.then(() => { callbackRequested = true; }, () => {});
    await page.goto(start.url.href);
    await drive();
    const url = new URL((await callback).url());
    return oidc.authorizationCodeGrant(rps[client]!, url, { pkceCodeVerifier: start.verifier, expectedState: start.state });
  }

  /** Answers whatever the login shows next, until the callback. */
  async function through(steps: { username?: string; totpSecret?: string; totpOffset?: number; choose?: string }) {
    for (let guard = 0; guard < 8; guard++) {
      await page.waitForLoadState();
      if (callbackRequested || page.url().startsWith(RP_CALLBACK)) return;
      const before = page.url();
      if (steps.choose && await page.$(`button[name=option][value=${steps.choose}]`)) {
        // Choosing redirects back to the same interaction URL: wait for the chosen step's form instead.
        await page.click(`button[name=option][value=${steps.choose}]`);
        await page.waitForSelector('input[name=code], form[data-passkey]');
        continue;
      } else if (await page.$('input[name=password]')) {
        await page.fill('input[name=username]', steps.username!);
        await page.fill('input[name=password]', PASSWORD);
        await page.click('button[type=submit].primary');
      } else if (await page.$('input[name=code]')) {
        await page.fill('input[name=code]', await totpCode(steps.totpSecret!, steps.totpOffset));
        await page.click('button[type=submit].primary');
      } else if (await page.$('form[data-passkey=get]')) await page.click('form[data-passkey=get] button');
      else if (await page.$('button[value=allow]')) await page.click('button[value=allow]');
      else if (page.url().startsWith(RP_CALLBACK)) return;
      else throw new Error(`unexpected page ${page.url()}: ${await page.textContent('main').catch(() => '')}`);
      await page.waitForURL((u) => u.href !== before, { timeout: 30_000 });
      if (callbackRequested) return;
      const error = await page.$('p.error:visible');
      if (error) throw new Error(`refused: ${await error.textContent()}`);
    }
  }

  async function addPasskeyOnAccount(label: string) {
    await page.goto(`${server.issuer}/account`);
    await page.click('form[action="/account/passkeys/start"] button');
    await page.fill('input[name=label]', label);
    await Promise.all([page.waitForURL(/\/account\?done=passkey/), page.click('form[data-passkey=create] button')]);
  }

  it('registers a passkey on /account after a password + TOTP login', async () => {
    await login('web', () => through({ username: 'pia', totpSecret: pia.totpSecret }));
    await addPasskeyOnAccount('Pia laptop');
    assert.match(await page.textContent('table.factors') ?? '', /Pia laptop/);
    await page.screenshot({ path: new URL('../artifacts/account-factors.png', import.meta.url).pathname, fullPage: true });
    const [stored] = await server.stepgate.credentials.passkeys(pia.id);
    assert.equal(stored!.label, 'Pia laptop');
    assert.equal(stored!.userVerified, true);
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    assert.equal(credentials.length, 1);
    assert.equal(credentials[0]!.isResidentCredential, true, 'a discoverable credential');
  });

  it('signs in with the passkey as the first step, no username: amr hwk + user, and with user verification mfa', async () => {
    await context.clearCookies();
    const tokens = await login('pk-first', async () => {
      await page.click('button[name=option][value=passkey]');
      assert.equal(await page.$('input[name=username]'), null, 'no username asked');
      await through({});
    });
    const claims = tokens.claims()!;
    assert.equal(claims.sub, pia.id);
    assert.deepEqual([...(claims.amr as string[])].sort(), ['hwk', 'mfa', 'user']);
    const [stored] = await server.stepgate.credentials.passkeys(pia.id);
    assert.ok(stored!.lastUsedAt !== null && stored!.counter > 0, 'last use and the signature counter are recorded');
  });

  it('signs in with the passkey as the second step after a password', async () => {
    await context.clearCookies();
    const tokens = await login('pw-pk', () => through({ username: 'pia' }));
    assert.deepEqual([...(tokens.claims()!.amr as string[])].sort(), ['hwk', 'mfa', 'pwd', 'user']);
  });

  it("another user's passkey is refused at that user's passkey step", async () => {
    // Otto registers a passkey of his own, which this authenticator then forgets: it holds only Pia's.
    await context.clearCookies();
    await login('web', () => through({ username: 'otto', totpSecret: otto.totpSecret }));
    await addPasskeyOnAccount('Otto phone');
    const [ottos] = await server.stepgate.credentials.passkeys(otto.id);
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    const ottoCredential = credentials.find((c) => Buffer.from(c.credentialId, 'base64').toString('base64url') === ottos!.credentialId)!;
    await cdp.send('WebAuthn.removeCredential', { authenticatorId, credentialId: ottoCredential.credentialId });

    await context.clearCookies();
    const start = await beginLogin(rps['pw-pk']!);
    await page.goto(start.url.href);
    await page.fill('input[name=username]', 'otto');
    await page.fill('input[name=password]', PASSWORD);
    await page.click('button[type=submit].primary');
    await page.waitForSelector('form[data-passkey=get]');
    // A browser that ignores the allowed list (or a crafted request) offers Pia's passkey.
    await page.$eval('form[data-passkey=get]', (form) => {
      const options = JSON.parse((form as HTMLFormElement).dataset.options!) as { allowCredentials?: unknown[] };
      options.allowCredentials = [];
      (form as HTMLFormElement).dataset.options = JSON.stringify(options);
    });
    await Promise.all([page.waitForURL(/interaction/), page.click('form[data-passkey=get] button')]);
    await page.waitForSelector('p.error');
    assert.match(await page.textContent('p.error') ?? '', /belongs to another account/);
  });

  it('a removed passkey no longer signs in', async () => {
    await context.clearCookies();
    // Pia's code of this time step was spent by the first test (codes are single-use): use the next step's.
    await login('web', () => through({ username: 'pia', totpSecret: pia.totpSecret, totpOffset: 1, choose: 'totp' }));
    await page.goto(`${server.issuer}/account`);
    await Promise.all([page.waitForURL(/done=removed/), page.click('tr[data-factor=passkey] form[action$="/remove"] button')]);
    assert.equal((await server.stepgate.credentials.passkeys(pia.id)).length, 0);

    await context.clearCookies();
    const start = await beginLogin(rps['pk-first']!);
    await page.goto(start.url.href);
    await page.click('button[name=option][value=passkey]');
    await Promise.all([page.waitForURL(/interaction/), page.click('form[data-passkey=get] button')]);
    await page.waitForSelector('p.error');
    assert.match(await page.textContent('p.error') ?? '', /not registered here/);
    assert.deepEqual(cspViolations, [], 'the passkey pages run under the CSP without violations');
  });
});
