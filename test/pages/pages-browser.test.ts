import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { AxeBuilder } from '@axe-core/playwright';
import { startStepgate, type TestServer } from '../support/server.ts';
import { addUser, PASSWORD, totpCode } from '../support/fixtures.ts';
import { Manage } from '../../server/manage/index.ts';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = new URL('../artifacts/', import.meta.url);

type Scheme = 'light' | 'dark';

/**
 * The pages people meet, in a real browser (Debian's Chromium through playwright-core),
 * checked by axe-core (WCAG 2.2 AA rules): every page kind in both colour schemes at phone
 * and desktop widths; a keyboard-only password + TOTP login; languages; Cancel and Deny;
 * error pages with a way forward. One server and one browser for the whole file.
 * Screenshots of every page kind go to test/artifacts/pages-*.png.
 */
describe('pages in a real browser (chromium + axe-core)', function () {
  this.timeout(600_000);
  let server: TestServer;
  let browser: Browser;
  /** TOTP codes are single-use and only ever move forward, so each login gets its own user. */
  let users = 0;
  const newUser = () => addUser(server, `user${++users}`);
  const cspViolations: string[] = [];

  before(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium) to run the browser tests`);
    }
    mkdirSync(ARTIFACTS, { recursive: true });
    server = await startStepgate({ overrides: { demo: true } });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-background-networking', '--disable-gpu', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    const callback = `${server.issuer}/demo/callback`;
    // Branding is set through the management service, as the CLI, API and console do.
    await manage().clients.create(manage().schemas.clientCreate.parse({
      client_id: 'payroll', public: false, name: 'Payroll', redirect_uris: [callback], chain: 'password,totp', grant_types: ['authorization_code'],
      brand_color: '#8a1538', policy_uri: 'https://payroll.example/privacy', tos_uri: 'https://payroll.example/terms', client_uri: 'https://payroll.example/',
    }), BY);
    await server.stepgate.clients.create({
      clientId: 'choosy', secret: 'choosy-secret-0123456789', redirectUris: [callback], chain: 'password,totp|password',
      grantTypes: ['authorization_code'], settings: { name: 'Choosy' },
    });
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  const BY = { actor: 'cli:test', address: null };
  const manage = () => new Manage(server.stepgate);

  /** An authorization request of a client redirecting to the demo callback. */
  function authorize(clientId: string, extra: Record<string, string> = {}): string {
    const params = new URLSearchParams({
      client_id: clientId, response_type: 'code', scope: 'openid profile', redirect_uri: `${server.issuer}/demo/callback`,
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256', ...extra,
    });
    return `${server.issuer}/authorize?${params}`;
  }

  async function newContext(opts: { scheme?: Scheme; width?: number; locale?: string } = {}): Promise<BrowserContext> {
    const context = await browser.newContext({
      colorScheme: opts.scheme ?? 'light', viewport: { width: opts.width ?? 1280, height: 900 }, locale: opts.locale ?? 'en-US',
      reducedMotion: 'reduce',
    });
    context.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
    });
    return context;
  }

  /** axe-core's WCAG 2.x A/AA rules: no serious or critical violation; a screenshot for the record. */
  async function audit(page: Page, name: string) {
    const results = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']).analyze();
    const bad = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    assert.deepEqual(bad.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`), [], `${name}: axe violations`);
    await page.screenshot({ path: new URL(`pages-${name}.png`, ARTIFACTS).pathname, fullPage: true });
    // Every page of ours is a complete HTML page in the request's language.
    assert.ok(await page.locator('html[lang]').count(), `${name}: html has lang`);
    assert.equal(await page.locator('h1').count(), 1, `${name}: one h1`);
  }

  async function signIn(page: Page, username: string) {
    await page.fill('#username', username);
    await page.fill('#password', PASSWORD);
    await page.click('button.primary');
  }

  for (const scheme of ['light', 'dark'] as const) {
    for (const width of [390, 1280]) {
      it(`every page kind passes axe in the ${scheme} scheme at ${width} px`, async () => {
        const context = await newContext({ scheme, width });
        const page = await context.newPage();
        const tag = `${scheme}-${width}`;
        const user = await newUser();

        await page.goto(`${server.issuer}/`);
        await audit(page, `${tag}-start`);

        // Password step (branded for Payroll), then a wrong password.
        await page.goto(authorize('payroll'));
        await page.waitForSelector('#username');
        assert.match(await page.textContent('header.brand') ?? '', /Sign in to Payroll/);
        await audit(page, `${tag}-password`);
        await page.fill('#username', user.username);
        await page.fill('#password', 'wrong password');
        await page.click('button.primary');
        await page.waitForSelector('#form-error');
        await audit(page, `${tag}-password-error`);

        // TOTP step, a wrong code, then the right one and consent.
        await page.fill('#password', PASSWORD);
        await page.click('button.primary');
        await page.waitForSelector('#code');
        await audit(page, `${tag}-totp`);
        await page.fill('#code', '000000');
        await page.click('button.primary');
        await page.waitForSelector('#form-error');
        await audit(page, `${tag}-totp-error`);
        await page.fill('#code', await totpCode(user.totpSecret));
        await page.click('button.primary');
        await page.waitForSelector('button[value=allow]');
        await audit(page, `${tag}-consent`);
        await page.click('button[value=allow]');
        await page.waitForURL(/\/demo\/callback\?code=/);
        await audit(page, `${tag}-demo-code`);

        // Choose a method: step 2 of Choosy offers TOTP or the password again.
        await page.goto(authorize('choosy', { prompt: 'login' }));
        await signIn(page, user.username);
        await page.waitForSelector('button.choice');
        await audit(page, `${tag}-choose`);

        await page.goto(`${server.issuer}/account`);
        await audit(page, `${tag}-account`);

        await page.goto(`${server.issuer}/interaction/no-such-login`);
        await audit(page, `${tag}-error-expired`);
        await page.goto(`${server.issuer}/no/such/page`);
        await audit(page, `${tag}-not-found`);
        await page.goto(`${server.issuer}/demo/callback?error=access_denied&error_description=the+user+cancelled+the+sign-in`);
        await audit(page, `${tag}-demo-error`);

        await page.goto(`${server.issuer}/logout`);
        await page.waitForSelector('button[name=logout]');
        await audit(page, `${tag}-logout`);
        await page.click('button[name=logout]');
        await page.waitForSelector('h1');
        await audit(page, `${tag}-logged-out`);
        await page.goto(`${server.issuer}/account`);
        await audit(page, `${tag}-account-signed-out`);
        await context.close();
      });
    }
  }

  it('branding is validated by the management service: https logo, a brand colour readable on white', () => {
    const result = manage().schemas.clientUpdate.safeParse({ logo_uri: 'http://payroll.example/logo.png', brand_color: '#ffcc00', policy_uri: 'javascript:alert(1)' });
    assert.equal(result.success, false);
    const issues = Object.fromEntries(result.error!.issues.map((i) => [i.path.join('.'), i.message]));
    assert.deepEqual(Object.keys(issues).sort(), ['brand_color', 'logo_uri', 'policy_uri']);
    assert.match(issues.brand_color!, /contrast with white is 1\.\d+:1/);
  });

  it('a password + TOTP login works with the keyboard alone', async () => {
    const user = await newUser();
    const context = await newContext();
    const page = await context.newPage();
    await page.goto(authorize('payroll'));
    await page.waitForSelector('#username');
    // Autofocus puts the cursor in the username field; Tab moves to the password.
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'username');
    await page.keyboard.type(user.username);
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'password');
    await page.keyboard.type('not the password');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#form-error');
    // After a wrong password the focus is on the field to fix, tied to the message.
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'password');
    assert.equal(await page.getAttribute('#password', 'aria-invalid'), 'true');
    assert.equal(await page.getAttribute('#password', 'aria-describedby'), 'form-error');
    assert.equal(await page.inputValue('#username'), user.username);
    await page.keyboard.type(PASSWORD);
    await page.keyboard.press('Enter');
    await page.waitForSelector('#code');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'code');
    await page.keyboard.type(await totpCode(user.totpSecret));
    await page.keyboard.press('Enter');
    await page.waitForSelector('button[value=allow]');
    assert.equal(await page.evaluate(() => (document.activeElement as HTMLButtonElement | null)?.value), 'allow');
    await page.keyboard.press('Enter');
    await page.waitForURL(/\/demo\/callback\?code=/);
    await context.close();
  });

  it('a German browser gets German pages; ui_locales wins over the browser', async () => {
    const german = await newContext({ locale: 'de-DE' });
    const page = await german.newPage();
    await page.goto(authorize('payroll'));
    await page.waitForSelector('#username');
    assert.equal(await page.getAttribute('html', 'lang'), 'de');
    assert.equal(await page.getAttribute('html', 'dir'), 'ltr');
    assert.equal(await page.textContent('label[for=password]'), 'Passwort');
    assert.match(await page.textContent('header.brand') ?? '', /Anmelden bei Payroll/);
    await audit(page, 'de-password');
    await page.goto(`${server.issuer}/no/such/page`);
    assert.equal(await page.textContent('h1'), 'Seite nicht gefunden');

    // The same German browser, but the application asks for English.
    await page.goto(authorize('payroll', { ui_locales: 'en' }));
    await page.waitForSelector('#username');
    assert.equal(await page.getAttribute('html', 'lang'), 'en');
    await german.close();

    const english = await newContext({ locale: 'en-US' });
    const page2 = await english.newPage();
    await page2.goto(authorize('payroll', { ui_locales: 'fr de' }));
    await page2.waitForSelector('#username');
    assert.equal(await page2.getAttribute('html', 'lang'), 'de', 'the first of ui_locales we have');
    assert.equal(await page2.textContent('h1'), 'Anmelden');
    // and it stays German for every page of that login
    await page2.fill('#username', 'nobody');
    await page2.fill('#password', 'falsch');
    await page2.click('button.primary');
    await page2.waitForSelector('#form-error');
    assert.match(await page2.textContent('#form-error') ?? '', /passen nicht zusammen/);
    await english.close();
  });

  it('Cancel and Deny end on a page that names the error', async () => {
    const context = await newContext();
    const page = await context.newPage();
    await page.goto(authorize('payroll'));
    await page.click('text=Cancel and go back to the application');
    await page.waitForURL(/\/demo\/callback\?error=access_denied/);
    assert.match(await page.textContent('.error') ?? '', /access_denied/);
    assert.match(await page.textContent('.error') ?? '', /the user cancelled the sign-in/);
    assert.doesNotMatch(await page.textContent('body') ?? '', /undefined/);

    const user = await newUser();
    await page.goto(authorize('payroll'));
    await signIn(page, user.username);
    await page.fill('#code', await totpCode(user.totpSecret));
    await page.click('button.primary');
    await page.waitForSelector('button[value=deny]');
    // The consent page says who is signed in, with a way to be someone else.
    assert.match(await page.textContent('main') ?? '', new RegExp(`Signed in as ${user.username}\\.`));
    assert.ok(await page.locator('a', { hasText: 'Not you? Sign in as someone else' }).count());
    await page.click('button[value=deny]');
    await page.waitForURL(/\/demo\/callback\?error=access_denied/);
    assert.match(await page.textContent('.error') ?? '', /the user denied access/);
    await context.close();
  });

  it('"Not you?" on the consent page leads to a sign-in as someone else, with scripts on (the CSP lets the provider\'s account switch run)', async () => {
    const first = await newUser();
    const second = await newUser();
    const context = await newContext();
    const page = await context.newPage();
    await page.goto(authorize('payroll'));
    await signIn(page, first.username);
    await page.fill('#code', await totpCode(first.totpSecret));
    await page.click('button.primary');
    await page.waitForSelector('button[value=allow]');
    await page.click('a:has-text("Not you? Sign in as someone else")');
    await page.waitForSelector('#username');
    await signIn(page, second.username);
    await page.fill('#code', await totpCode(second.totpSecret));
    await page.click('button.primary');
    // oidc-provider ends the first user's session with a self-submitting form on the way.
    await page.waitForSelector('button[value=allow]');
    assert.match(await page.textContent('main') ?? '', new RegExp(`Signed in as ${second.username}\\.`));
    await page.click('button[value=allow]');
    await page.waitForURL(/\/demo\/callback\?code=/);
    assert.deepEqual(cspViolations, [], 'no page breaks the content security policy');
    await context.close();
  });

  it('no dead ends: a step URL opened directly, an unknown method and an expired login all render our page with a way forward', async () => {
    const context = await newContext();
    const page = await context.newPage();
    await page.goto(authorize('payroll'));
    await page.waitForSelector('#username');
    const uid = new URL(page.url()).pathname.split('/')[2]!;
    // The form's own URL, opened with GET: back to the current step, not "Method Not Allowed".
    const direct = await page.goto(`${server.issuer}/interaction/${uid}/step/0`);
    assert.equal(direct!.status(), 200);
    assert.ok(await page.locator('#username').count());

    const expired = await page.goto(`${server.issuer}/interaction/gone/step/0`);
    assert.equal(expired!.status(), 400);
    assert.ok(await page.locator('a[href="/"]').count(), 'the start page is offered');

    const res = await page.request.fetch(`${server.issuer}/account`, { method: 'PUT', headers: { accept: 'text/html' } });
    assert.equal(res.status(), 405);
    assert.match(res.headers()['content-type'] ?? '', /text\/html/);
    assert.match(await res.text(), /<h1>/);

    // The favicon exists, under the one assets route, cached long and never sniffed.
    const icon = await page.request.get(`${server.issuer}/favicon.ico`);
    assert.equal(icon.status(), 200);
    assert.match(icon.headers()['content-type'] ?? '', /image\/svg\+xml/);
    assert.match(icon.headers()['cache-control'] ?? '', /max-age=31536000/);
    assert.equal(icon.headers()['x-content-type-options'], 'nosniff');
    await context.close();
  });

  it('"Show password" reveals the password with a same-origin script; the page works without it', async () => {
    const context = await newContext();
    const page = await context.newPage();
    await page.goto(authorize('payroll'));
    await page.fill('#password', 'secret words');
    await page.check('label.reveal input');
    assert.equal(await page.getAttribute('#password', 'type'), 'text');
    await page.uncheck('label.reveal input');
    assert.equal(await page.getAttribute('#password', 'type'), 'password');
    await context.close();

    const noScript = await browser.newContext({ javaScriptEnabled: false });
    const plain = await noScript.newPage();
    await plain.goto(authorize('payroll'));
    assert.equal(await plain.isVisible('label.reveal'), false, 'without the script the toggle stays hidden');
    await signIn(plain, (await newUser()).username);
    await plain.waitForSelector('#code');
    await noScript.close();
    assert.deepEqual(cspViolations, [], 'no page breaks the content security policy');
  });
});
