import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { AxeBuilder } from '@axe-core/playwright';
import { startStepgate, type TestServer } from '../support/server.ts';
import { addClient, addUser, beginLogin, relyingParty, PASSWORD, totpCode } from '../support/fixtures.ts';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = new URL('../artifacts/', import.meta.url);

/**
 * A real browser: an admin signs in to the console through password + TOTP, adds a TOTP
 * step to a client's chain with the editor's buttons, and a user's very next login at that
 * client asks for the new step. Screenshots of each console page go to test/artifacts/.
 */
describe('admin console in a real browser (chromium)', function () {
  this.timeout(300_000);
  let server: TestServer;
  let browser: Browser;
  const cspViolations: string[] = [];

  before(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium) to run the browser test`);
    }
    mkdirSync(ARTIFACTS, { recursive: true });
    server = await startStepgate();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-background-networking', '--disable-gpu', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  async function newPage(): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
    const page = await context.newPage();
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
    });
    return page;
  }
  const shot = (page: Page, name: string) => page.screenshot({ path: new URL(`console-${name}.png`, ARTIFACTS).pathname, fullPage: true });

  it('admin signs in with password + TOTP, adds a TOTP step; the next user login asks for it', async () => {
    const admin = await addUser(server, 'root', { roles: ['admin'] });
    const user = await addUser(server, 'una');
    await addClient(server, 'webapp', 'password');

    // The admin's sign-in: the console's own chain, password then TOTP; no consent (first party).
    const page = await newPage();
    await page.goto(`${server.issuer}/admin`);
    await page.fill('input[name=username]', 'root');
    await page.fill('input[name=password]', PASSWORD);
    await page.click('button[type=submit].primary');
    await page.waitForSelector('input[name=code]');
    assert.match(await page.textContent('.progress') ?? '', /Step 2 of 2/);
    await shot(page, '0-sign-in-totp');
    await page.fill('input[name=code]', await totpCode(admin.totpSecret));
    await page.click('button[type=submit].primary');
    await page.waitForURL(`${server.issuer}/admin`);
    assert.match(await page.textContent('h1') ?? '', /Overview/);
    await page.click('a[href="/admin/clients"]');
    await shot(page, '1-clients');

    await page.click('a[href="/admin/clients/webapp"]');
    await page.waitForURL('**/admin/clients/webapp');
    await shot(page, '2-client');
    await page.click('a[href="/admin/clients/webapp/chain"]');
    await page.waitForURL('**/admin/clients/webapp/chain');
    assert.equal(await page.textContent('#chain-description'), 'Step 1: Password.');

    // Add a step with the editor's own controls.
    await page.selectOption('select[name=new-step]', 'totp');
    await page.click('button[value=add-step]');
    await page.waitForFunction(() => document.querySelector('#chain-description')?.textContent?.includes('Step 2'));
    assert.equal(await page.textContent('#chain-description'), 'Step 1: Password. Step 2: Authenticator app (TOTP).');
    assert.equal(await page.locator('li.step').count(), 2);
    await shot(page, '3-chain-editor');
    assert.equal((await server.stepgate.clients.get('webapp'))!.chain, 'password,totp');

    await server.stepgate.idps.add({ name: 'corp', issuer: 'https://login.corp.example', clientId: 'stepgate', clientSecret: 'corp-secret', scopes: ['openid', 'email'], displayName: 'Corp', claimMapping: {}, jit: true });
    await server.stepgate.links.link({ idpName: 'corp', issuer: 'https://login.corp.example', subject: 'una-at-corp' }, user.id);
    const pages = [
      ['/admin/users', '4-users'], [`/admin/users/${user.id}`, '5-user'], ['/admin/audit', '6-audit'], ['/admin/clients/new', '7-client-new'],
      ['/admin/identity-providers', '9-identity-providers'], ['/admin/identity-providers/corp', '10-identity-provider'], ['/admin/identity-providers/new', '11-identity-provider-new'],
    ] as const;
    for (const [path, name] of pages) {
      await page.goto(`${server.issuer}${path}`);
      assert.equal(await page.locator('.error').count(), 0, `${path} renders without an error`);
      await shot(page, name);
    }
    const audit = await page.goto(`${server.issuer}/admin/audit?kind=admin.client`);
    assert.equal(audit!.status(), 200);
    assert.match(await page.textContent('table.audit tbody') ?? '', /admin\.client\.updated/);

    // The user's very next login at that client, in another browser context.
    const rp = await relyingParty(server, { clientId: 'webapp', secret: 'webapp-secret-0123456789' });
    const login = await beginLogin(rp);
    const userPage = await newPage();
    await userPage.goto(login.url.href);
    await userPage.fill('input[name=username]', 'una');
    await userPage.fill('input[name=password]', PASSWORD);
    await userPage.click('button[type=submit].primary');
    await userPage.waitForSelector('input[name=code]');
    assert.match(await userPage.textContent('.progress') ?? '', /Step 2 of 2/);
    await shot(userPage, '8-user-next-login-totp');

    assert.deepEqual(cspViolations, [], 'no page breaks the content security policy');
  });

  /** axe-core's WCAG 2.x A/AA rules, as for the pages people meet: no serious or critical violation. */
  async function axe(page: Page, name: string) {
    const results = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']).analyze();
    const bad = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    assert.deepEqual(bad.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`), [], `${name}: axe violations`);
    assert.equal(await page.locator('h1').count(), 1, `${name}: one h1`);
    // Reflow (WCAG 1.4.10): on a phone nothing widens the page beyond the screen.
    const [scrollWidth, innerWidth] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
    assert.ok(scrollWidth <= innerWidth, `${name}: ${scrollWidth} px wide in a ${innerWidth} px window`);
    await shot(page, `axe-${name}`);
  }

  // Both schemes and both widths the pages people meet are checked at, in two runs.
  for (const [scheme, width] of [['light', 1280], ['dark', 390]] as const) {
    it(`every console page kind passes axe in the ${scheme} scheme at ${width} px`, async () => {
      const n = scheme === 'light' ? 1 : 2;
      const admin = await addUser(server, `axe-admin${n}`, { roles: ['admin'] });
      const user = await addUser(server, `axe-user${n}`);
      await addClient(server, `axe-app${n}`, 'password,totp');
      await server.stepgate.idps.add({ name: `axe-idp${n}`, issuer: `https://idp${n}.example`, clientId: 'c', clientSecret: 's', scopes: ['openid'], displayName: 'Axe IdP', claimMapping: {}, jit: false });
      await server.stepgate.links.link({ idpName: `axe-idp${n}`, issuer: `https://idp${n}.example`, subject: `sub-${n}` }, user.id);
      // A change so the audit log shows a before/after.
      await server.stepgate.clients.update(`axe-app${n}`, { chain: 'password' });

      const context = await browser.newContext({ viewport: { width, height: 900 }, colorScheme: scheme });
      const page = await context.newPage();
      page.on('console', (m) => {
        if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
      });
      await page.goto(`${server.issuer}/admin`);
      await page.fill('input[name=username]', admin.username);
      await page.fill('input[name=password]', PASSWORD);
      await page.click('button[type=submit].primary');
      await page.waitForSelector('input[name=code]');
      await page.fill('input[name=code]', await totpCode(admin.totpSecret));
      await page.click('button[type=submit].primary');
      await page.waitForURL(`${server.issuer}/admin`);
      // A client edit through the form, so the audit log holds a console change too.
      await page.goto(`${server.issuer}/admin/clients/axe-app${n}/edit`);
      await page.fill('#name', 'Axe App renamed');
      await page.click('main button[type=submit].primary');
      await page.waitForSelector('.notice');
      await axe(page, `${scheme}-notice`);

      const id = encodeURIComponent(user.id);
      const pages: [string, string][] = [
        ['/admin', 'overview'], ['/admin/clients', 'clients'], [`/admin/clients/axe-app${n}`, 'client'], [`/admin/clients/axe-app${n}/edit`, 'client-edit'],
        ['/admin/clients/new', 'client-new'], [`/admin/clients/axe-app${n}/chain`, 'chain'], ['/admin/users', 'users'], [`/admin/users/${id}`, 'user'],
        ['/admin/identity-providers', 'idps'], [`/admin/identity-providers/axe-idp${n}`, 'idp'], [`/admin/identity-providers/axe-idp${n}/edit`, 'idp-edit'],
        ['/admin/saml-idps', 'saml-idps'], ['/admin/keys', 'keys'], ['/admin/audit', 'audit'],
        [`/admin/clients/axe-app${n}/delete`, 'confirm-delete-client'], [`/admin/users/${id}/password`, 'confirm-password'],
        [`/admin/users/${id}/identities/unlink?idp=axe-idp${n}&subject=sub-${n}`, 'confirm-unlink'], ['/admin/users/nobody', 'not-found'],
      ];
      for (const [path, name] of pages) {
        await page.goto(`${server.issuer}${path}`);
        await axe(page, `${scheme}-${name}`);
      }
      assert.ok(await page.locator('.message').count(), 'the not-found page says so');
      await page.goto(`${server.issuer}/admin/audit?kind=admin.client.updated`);
      assert.ok(await page.locator('table.diff').count(), 'the audit page shows a diff');
      await context.close();
      assert.deepEqual(cspViolations, [], 'no page breaks the content security policy');
    });
  }
});
