import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { generate } from 'otplib';
import { startStepgate, type TestServer } from '../support/server.ts';
import { Browser, type Page } from '../support/browser.ts';
import { addClient, addUser, beginLogin, relyingParty, RP_CALLBACK, PASSWORD } from '../support/fixtures.ts';
import { Manage } from '../../server/manage/index.ts';

/**
 * "Set up a second factor at the next login" (users.requireEnrolment), through real logins
 * without a browser engine: once the client's chain is otherwise done the login asks for a
 * factor to be set up (TOTP from the QR page here), shows the recovery codes, then goes on;
 * the requirement is then cleared. It is not skipped by single sign-on, and it stands above
 * a client's `enrolment: admin-only`.
 */
describe('factors: enrolment required by an admin', function () {
  this.timeout(60_000);
  let server: TestServer;
  let manage: Manage;
  let rp: oidc.Configuration;
  const admin = { actor: 'cli:test', address: null };

  before(async () => {
    server = await startStepgate();
    manage = new Manage(server.stepgate);
    rp = await relyingParty(server, await addClient(server, 'plain', 'password'));
  });
  after(async () => server.stop());

  async function passwordStep(which: oidc.Configuration, username: string, browser = new Browser(RP_CALLBACK)) {
    const login = await beginLogin(which);
    const first = await browser.go(login.url.href);
    const page = first.$('input[name=password]').length ? await browser.submit(first, { username, password: PASSWORD }) : first;
    return { login, browser, page };
  }

  async function finish(which: oidc.Configuration, browser: Browser, page: Page, login: Awaited<ReturnType<typeof beginLogin>>) {
    if (page.$('button[value=allow]').length) page = await browser.submit(page, {}, /consent/, { name: 'decision', value: 'allow' });
    assert.ok(page.location?.startsWith(RP_CALLBACK), `expected the callback, got ${page.status}: ${page.$('h1, .error').text()}`);
    return oidc.authorizationCodeGrant(which, new URL(page.location!), { pkceCodeVerifier: login.verifier, expectedState: login.state });
  }

  /** On the "set up a second factor" page (or TOTP's own, when the step offers only TOTP): the QR page, the codes, "I saved them". */
  async function enrolTotp(browser: Browser, page: Page, offered = ['passkey', 'totp']): Promise<Page> {
    let setup = page;
    if (offered.length > 1) {
      assert.match(page.$('h1').text(), /Set up a second factor/, page.$('main').text());
      assert.deepEqual(page.$('button[name=option]').toArray().map((b) => page.$(b).attr('value')).sort(), offered);
      setup = await browser.submit(page, {}, /choose/, { name: 'option', value: 'totp' });
    }
    assert.match(setup.$('h1').text(), /Set up an authenticator app/, setup.$('main').text());
    assert.equal(setup.$('figure.qr svg').length, 1);
    const codes = await browser.submit(setup, { code: await generate({ secret: setup.$('[data-secret]').text().trim() }) });
    assert.equal(codes.$('ul.codes code').length, 10, 'the recovery codes are shown');
    return browser.submit(codes, {}, /recovery-codes/);
  }

  it('a password-only login asks for a second factor once an admin requires one, then goes on; the requirement is then cleared', async () => {
    const rex = await addUser(server, 'rex', { totp: false });
    const before = await passwordStep(rp, 'rex');
    const plain = await finish(rp, before.browser, before.page, before.login);
    assert.deepEqual(plain.claims()!.amr, ['pwd'], 'nothing asked before the requirement');

    assert.equal((await manage.clients.simulate('plain', { user: 'rex', remembered_device: false })).complete, true);
    await manage.users.requireEnrolment('rex', true, admin);
    const sim = await manage.clients.simulate('plain', { user: 'rex', remembered_device: false });
    assert.deepEqual(sim.steps.map((s) => [s.step, s.outcome, s.enrol]), [[1, 'ask', undefined], [2, 'unavailable', ['totp', 'passkey']]], 'the simulator tells the same');
    assert.match(sim.steps[1]!.reason, /administrator required a second factor/);
    const { login, browser, page } = await passwordStep(rp, 'rex');
    assert.match(page.$('main').text(), /Step 2 of 2/);
    const tokens = await finish(rp, browser, await enrolTotp(browser, page), login);
    assert.deepEqual([...(tokens.claims()!.amr as string[])].sort(), ['mfa', 'otp', 'pwd']);
    assert.equal((await server.stepgate.users.byId(rex.id))!.enrolmentRequired, false);
    assert.equal(await server.stepgate.credentials.has(rex.id, 'totp'), true);
    const [event] = await server.stepgate.audit.list({ kind: 'auth.factor.enrolled', subject: rex.id });
    assert.equal(event?.details.authenticator, 'totp');

    assert.equal((await manage.clients.simulate('plain', { user: 'rex', remembered_device: false })).steps.length, 1, 'nothing more once enrolled');
    const after = await passwordStep(rp, 'rex');
    assert.ok(after.page.location?.startsWith(RP_CALLBACK) || after.page.$('button[value=allow]').length > 0, 'the next login asks nothing more');
  });

  it('is not skipped by single sign-on: a browser already signed in is asked on its next authorization', async () => {
    await addUser(server, 'sam', { totp: false });
    const first = await passwordStep(rp, 'sam');
    await finish(rp, first.browser, first.page, first.login);
    const sso = await passwordStep(rp, 'sam', first.browser);
    await finish(rp, first.browser, sso.page, sso.login);

    await manage.users.requireEnrolment('sam', true, admin);
    const { login, page } = await passwordStep(rp, 'sam', first.browser);
    assert.equal(page.$('input[name=password]').length, 0, 'the password is reused from the session');
    const tokens = await finish(rp, first.browser, await enrolTotp(first.browser, page), login);
    assert.ok((tokens.claims()!.amr as string[]).includes('otp'));
  });

  it('stands above a client\'s enrolment: admin-only (the step is set up instead of the dead end)', async () => {
    const strict = await addClient(server, 'strict', 'password,totp');
    await server.stepgate.clients.update('strict', { grantTypes: ['authorization_code', 'refresh_token'], settings: { name: 'Strict', enrolment: 'admin-only' } });
    const strictRp = await relyingParty(server, strict);
    await addUser(server, 'tia', { totp: false });
    const dead = await passwordStep(strictRp, 'tia');
    assert.equal(dead.page.status, 403, 'without the requirement: the explained dead end');

    await manage.users.requireEnrolment('tia', true, admin);
    const { login, browser, page } = await passwordStep(strictRp, 'tia');
    assert.match(page.$('main').text(), /Step 2 of 2/, 'the chain\'s own TOTP step is the one set up: no extra step');
    const tokens = await finish(strictRp, browser, await enrolTotp(browser, page, ['totp']), login);
    assert.deepEqual([...(tokens.claims()!.amr as string[])].sort(), ['mfa', 'otp', 'pwd']);
    assert.equal((await server.stepgate.users.byUsername('tia'))!.enrolmentRequired, false);
  });
});
