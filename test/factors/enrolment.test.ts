import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { generate } from 'otplib';
import { startStepgate, type TestServer } from '../support/server.ts';
import { Browser, type Page } from '../support/browser.ts';
import { addClient, addUser, beginLogin, relyingParty, RP_CALLBACK, PASSWORD } from '../support/fixtures.ts';

/**
 * Enrolment during sign-in and recovery codes, without a browser engine (no passkey here:
 * see browser.test.ts): TOTP set up from the QR page, the codes shown once, a recovery code
 * satisfying the TOTP step once, and the dead ends explained.
 */
describe('factors: enrolment at login and recovery codes', function () {
  this.timeout(60_000);
  let server: TestServer;
  let rp: oidc.Configuration;
  let recoveryRp: oidc.Configuration;
  let strictRp: oidc.Configuration;
  let codes: string[] = [];

  before(async () => {
    server = await startStepgate();
    rp = await relyingParty(server, await addClient(server, 'app', 'password,totp|passkey'));
    recoveryRp = await relyingParty(server, await addClient(server, 'rec', 'password,totp|recovery'));
    const strict = await addClient(server, 'strict', 'password,totp');
    await server.stepgate.clients.update('strict', { grantTypes: ['authorization_code', 'refresh_token'], settings: { name: 'Strict', enrolment: 'admin-only' } });
    strictRp = await relyingParty(server, strict);
    await addUser(server, 'newbie', { totp: false });
    await addUser(server, 'nobody', { totp: false });
    await addUser(server, 'alice');
  });
  after(async () => server.stop());

  /** Authorize and sign in with the password: the page after the first step. */
  async function afterPassword(which: oidc.Configuration, username: string) {
    const login = await beginLogin(which);
    const browser = new Browser(RP_CALLBACK);
    const first = await browser.go(login.url.href);
    return { login, browser, page: await browser.submit(first, { username, password: PASSWORD }) };
  }

  async function finish(which: oidc.Configuration, browser: Browser, page: Page, login: Awaited<ReturnType<typeof beginLogin>>) {
    if (page.$('button[value=allow]').length) page = await browser.submit(page, {}, /consent/, { name: 'decision', value: 'allow' });
    assert.ok(page.location?.startsWith(RP_CALLBACK), `expected the callback, got ${page.status}: ${page.$('h1, .error').text()}`);
    return oidc.authorizationCodeGrant(which, new URL(page.location!), { pkceCodeVerifier: login.verifier, expectedState: login.state });
  }

  it('a user with no second factor sets up TOTP from the QR page, gets 10 recovery codes once, and the login goes on', async () => {
    const { login, browser, page: choose } = await afterPassword(rp, 'newbie');
    assert.match(choose.$('h1').text(), /Set up a second factor/);
    assert.deepEqual(choose.$('button[name=option]').toArray().map((b) => choose.$(b).attr('value')).sort(), ['passkey', 'totp']);
    const setup = await browser.submit(choose, {}, /choose/, { name: 'option', value: 'totp' });
    assert.equal(setup.status, 200);
    assert.ok(setup.$('figure.qr svg').length === 1, 'a QR code drawn on the server as SVG');
    const secret = setup.$('[data-secret]').text().trim();
    assert.match(secret, /^[A-Z2-7]{16,}$/);

    const current = await generate({ secret });
    const wrong = await browser.submit(setup, { code: current === '000000' ? '111111' : '000000' });
    assert.equal(wrong.status, 400);
    assert.equal(wrong.$('[data-secret]').text().trim(), secret, 'a wrong code shows the same secret again');
    assert.equal(await server.stepgate.credentials.has((await server.stepgate.users.byUsername('newbie'))!.id, 'totp'), false, 'nothing stored before a valid code');

    const shown = await browser.submit(wrong, { code: await generate({ secret }) });
    assert.equal(shown.status, 200);
    assert.equal(shown.headers.get('cache-control'), 'no-store');
    codes = shown.$('ul.codes code').toArray().map((c) => shown.$(c).text());
    assert.equal(codes.length, 10);
    assert.match(shown.$('a[download]').attr('href') ?? '', /^data:text\/plain/);
    assert.ok(decodeURIComponent(shown.$('a[download]').attr('href')!).includes(codes[0]!), 'the download holds the codes');

    // Reloaded: the codes are not shown again, and nothing goes on until they are acknowledged.
    const reloaded = await browser.go(shown.url.replace(/\/step\/\d+$/, ''));
    assert.equal(reloaded.$('ul.codes').length, 0);
    assert.match(reloaded.$('main').text(), /shown once/);

    const tokens = await finish(rp, browser, await browser.submit(reloaded, {}, /recovery-codes/), login);
    assert.deepEqual([...(tokens.claims()!.amr as string[])].sort(), ['mfa', 'otp', 'pwd']);
    const newbie = (await server.stepgate.users.byUsername('newbie'))!;
    assert.equal(await server.stepgate.credentials.has(newbie.id, 'totp'), true);
    const events = await server.stepgate.audit.list({ kind: 'auth.factor.enrolled' });
    assert.ok(events.some((e) => e.subject === newbie.id && e.details.authenticator === 'totp'));
  });

  it('the next login asks the new TOTP, and never offers enrolment again', async () => {
    const { page } = await afterPassword(rp, 'newbie');
    assert.equal(page.$('input[name=code]').length, 1);
    assert.doesNotMatch(page.$('h1').text(), /Set up/);
  });

  it('a recovery code satisfies the TOTP step once; used twice it is refused; the use is audited with how many are left', async () => {
    const first = await afterPassword(recoveryRp, 'newbie');
    const form = await first.browser.submit(first.page, {}, /choose/, { name: 'option', value: 'recovery' });
    const tokens = await finish(recoveryRp, first.browser, await first.browser.submit(form, { code: codes[0]!.toLowerCase() }), first.login);
    assert.equal(tokens.claims()!.sub, (await server.stepgate.users.byUsername('newbie'))!.id);

    const again = await afterPassword(recoveryRp, 'newbie');
    const form2 = await again.browser.submit(again.page, {}, /choose/, { name: 'option', value: 'recovery' });
    const refused = await again.browser.submit(form2, { code: codes[0]! });
    assert.equal(refused.status, 400);
    assert.match(refused.$('.error').text(), /not right, or was already used/);
    const [used] = await server.stepgate.audit.list({ kind: 'auth.recovery_code.used' });
    assert.equal(used!.details.left, 9);
  });

  it('one recovery code posted by 10 logins at once: exactly one gets through', async () => {
    // The passwords one after another (ten at once would count as ten attempts in flight and
    // trip the account lockout, which bounds parallel guesses); then the one code, ten at once.
    const logins = [];
    for (let i = 0; i < 10; i++) {
      const l = await afterPassword(recoveryRp, 'newbie');
      logins.push({ ...l, form: await l.browser.submit(l.page, {}, /choose/, { name: 'option', value: 'recovery' }) });
    }
    const answers = await Promise.all(logins.map((l) => l.browser.submit(l.form, { code: codes[1]! })));
    assert.equal(answers.filter((a) => a.status === 303 || a.location !== undefined || a.$('button[value=allow]').length > 0).length, 1,
      answers.map((a) => `${a.status} ${a.$('.error').text()}`).join('\n'));
    assert.equal(answers.filter((a) => a.status === 400).length, 9);
    assert.equal(await server.stepgate.credentials.recoveryLeft((await server.stepgate.users.byUsername('newbie'))!.id), 8);
  });

  it('a user who has TOTP is not offered to set up a passkey when a step needs one: the dead end is explained', async () => {
    await addClient(server, 'pk-only', 'password,passkey');
    const { page } = await afterPassword(await relyingParty(server, { clientId: 'pk-only', secret: 'pk-only-secret-0123456789' }), 'alice');
    assert.equal(page.status, 403);
    assert.match(page.$('main').text(), /already has another second factor/);
    assert.equal(await server.stepgate.credentials.has((await server.stepgate.users.byUsername('alice'))!.id, 'passkey'), false);
  });

  it('enrolment admin-only (client setting): the dead end says the administrator must set it up', async () => {
    const { page } = await afterPassword(strictRp, 'nobody');
    assert.equal(page.status, 403);
    assert.match(page.$('main').text(), /administrator must set it up/);
    assert.equal(page.$('figure.qr').length, 0);
  });
});
