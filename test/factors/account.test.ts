import assert from 'node:assert/strict';
import type * as oidc from 'openid-client';
import { startStepgate, type TestServer } from '../support/server.ts';
import { Browser, type Page } from '../support/browser.ts';
import { addClient, addUser, beginLogin, relyingParty, totpCode, RP_CALLBACK, PASSWORD } from '../support/fixtures.ts';

const FIREFOX = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0';
const CHROME = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36';

/**
 * /account without a browser engine: remembered browsers listed and forgotten (one or all),
 * a password change ending the user's other sessions, and recovery codes going with the
 * last second factor. Each change is audited.
 */
describe('factors: the account page (remembered devices, password, last factor)', function () {
  this.timeout(60_000);
  let server: TestServer;
  let rp: oidc.Configuration;

  before(async () => {
    server = await startStepgate();
    // Step 2 remembers the browser for 30 days; it offers the password again too, so that no
    // chain needs a second factor only and the last one may be removed on /account.
    rp = await relyingParty(server, await addClient(server, 'acct', JSON.stringify({ steps: [{ options: ['password'] }, { options: ['totp', 'password'], remember: 2_592_000 }] })));
  });
  after(async () => server.stop());

  /** Signs `username` in with password and TOTP (remembering this browser): a session that may change the account. */
  async function signIn(username: string, totpOffset: number, userAgent = FIREFOX): Promise<Browser> {
    const browser = new Browser(RP_CALLBACK, { 'user-agent': userAgent });
    const login = await beginLogin(rp);
    let page = await browser.submit(await browser.go(login.url.href), { username, password: PASSWORD });
    page = await browser.submit(page, {}, /choose/, { name: 'option', value: 'totp' });
    assert.equal(page.$('input[name=remember_device]').length, 1, 'the step offers to remember this browser');
    page = await browser.submit(page, { code: await totpCode('JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP', totpOffset), remember_device: '1' });
    if (page.$('button[value=allow]').length) page = await browser.submit(page, {}, /consent/, { name: 'decision', value: 'allow' });
    assert.ok(page.location?.startsWith(RP_CALLBACK), `signed in, got ${page.status}: ${page.$('.error, h1').text()}`);
    return browser;
  }
  const account = (browser: Browser) => browser.go(`${server.issuer}/account`);
  const notice = (page: Page) => page.$('.notice').text();
  const devices = (page: Page) => page.$('table.devices tr[data-device]').toArray().map((tr) => page.$(tr).find('th').text());
  const events = async (kind: string, subject: string) => server.stepgate.audit.list({ kind, subject });

  it('lists remembered browsers; the user forgets one, then all; audited; a forged or unknown one is refused', async () => {
    const dora = await addUser(server, 'dora');
    const firefox = await signIn('dora', 0, FIREFOX);
    await signIn('dora', 1, CHROME);
    let page = await account(firefox);
    assert.equal(page.status, 200);
    assert.deepEqual(devices(page).sort(), ['Chrome on Windows', 'Firefox on Linux']);
    assert.match(page.$('table.devices').text(), /remembered \d{4}-\d\d-\d\d \d\d:\d\d UTC; last used .* UTC; until /);

    const chromeRow = page.$('table.devices tr[data-device]').toArray().find((tr) => page.$(tr).find('th').text() === 'Chrome on Windows')!;
    const chromeId = page.$(chromeRow).attr('data-device')!;
    const forged = await firefox.request(`${server.issuer}/account/devices/${chromeId}/forget`, { form: { _csrf: 'forged' } });
    assert.equal(forged.status, 403);
    const csrf = page.$('input[name=_csrf]').first().attr('value')!;
    const unknown = await firefox.request(`${server.issuer}/account/devices/00000000-0000-0000-0000-000000000000/forget`, { form: { _csrf: csrf } });
    assert.equal(unknown.status, 404);
    assert.match(unknown.$('main').text(), /not remembered for your account/);
    assert.equal((await server.stepgate.devices.list(dora.id)).length, 2, 'nothing forgotten yet');

    page = await firefox.submit(page, {}, new RegExp(`/devices/${chromeId}/forget$`));
    assert.equal(page.status, 200);
    assert.match(notice(page), /no longer remembered/);
    assert.deepEqual(devices(page), ['Firefox on Linux']);
    const [one] = await events('account.device.forgotten', dora.id);
    assert.equal(one?.details.device, 'Chrome on Windows');

    page = await firefox.submit(page, {}, /\/devices\/forget-all$/);
    assert.match(notice(page), /No device is remembered any more/);
    assert.deepEqual(devices(page), []);
    assert.match(page.$('main').text(), /No browser is remembered for your account/);
    assert.deepEqual(await server.stepgate.devices.list(dora.id), []);
    const [all] = await events('account.devices.forgotten', dora.id);
    assert.equal(all?.details.count, 1);
  });

  it('an account page refusal speaks the browser\'s language (German): wrong or short password', async () => {
    await addUser(server, 'greta');
    const browser = await signIn('greta', 0);
    const csrf = (await account(browser)).$('form[action="/account/password"] input[name=_csrf]').attr('value')!;
    const inGerman = (fields: Record<string, string>) => browser.request(`${server.issuer}/account/password`, { form: { _csrf: csrf, ...fields }, headers: { 'accept-language': 'de-DE,de;q=0.9' } });
    const wrong = await inGerman({ old_password: 'not the password', new_password: 'a brand new password' });
    assert.equal(wrong.status, 400);
    assert.match(wrong.$('main').text(), /Ihr aktuelles Passwort stimmt nicht/);
    const short = await inGerman({ old_password: PASSWORD, new_password: 'short' });
    assert.equal(short.status, 400);
    assert.match(short.$('main').text(), /mindestens 10 Zeichen/);
  });

  it('a password change ends the other sessions and forgets remembered browsers; this browser stays signed in', async () => {
    const paul = await addUser(server, 'paul');
    const here = await signIn('paul', 0);
    const elsewhere = await signIn('paul', 1, CHROME);
    assert.equal((await account(elsewhere)).status, 200);
    assert.equal((await server.stepgate.devices.list(paul.id)).length, 2);

    const wrong = await here.submit(await account(here), { old_password: 'not the password', new_password: 'a brand new password' }, /\/account\/password$/);
    assert.equal(wrong.status, 400);
    assert.equal((await account(elsewhere)).status, 200, 'a refused change ends nothing');

    const changed = await here.submit(await account(here), { old_password: PASSWORD, new_password: 'a brand new password' }, /\/account\/password$/);
    assert.equal(changed.status, 200);
    assert.match(notice(changed), /password was changed. Your other sessions were signed out/);
    const gone = await account(elsewhere);
    assert.equal(gone.status, 401, 'the other browser is signed out');
    assert.equal((await account(here)).status, 200, 'this one is not');
    assert.deepEqual(await server.stepgate.devices.list(paul.id), [], 'remembered browsers are forgotten');
    const [event] = await events('account.password.changed', paul.id);
    assert.equal(event?.details.sessions_ended, 1);
    assert.ok(await server.stepgate.passwords.verify((await server.stepgate.users.byId(paul.id))!.passwordHash, 'a brand new password'));
  });

  it('the last second factor takes the recovery codes with it, and the page says so; refused while a client needs one', async () => {
    const lena = await addUser(server, 'lena');
    await server.stepgate.credentials.addPasskey(lena.id, { credentialId: 'cred-lena', publicKey: 'pk', counter: 0, transports: [], backedUp: false, userVerified: true, label: 'Yubikey' });
    await server.stepgate.credentials.newRecoveryCodes(lena.id);
    const browser = await signIn('lena', 0);
    let page = await account(browser);
    const removeForm = (type: string) => new RegExp(`/factors/${page.$(`tr[data-factor=${type}] form[action$="/remove"]`).attr('action')!.split('/')[3]}/remove$`);

    page = await browser.submit(page, {}, removeForm('passkey'));
    assert.match(notice(page), /^The sign-in method was removed\.$/);
    assert.match(page.$('[data-recovery-left]').text(), /10 recovery codes left/, 'another factor remains: the codes stay');
    assert.match(page.$('main').text(), /removing your last one removes them too/, 'the page warns before the last one goes');

    await addClient(server, 'strict', 'password,totp');
    const refused = await browser.submit(page, {}, removeForm('totp'));
    assert.equal(refused.status, 409);
    assert.match(refused.$('main').text(), /last second factor, and "App strict" needs one/);
    assert.equal(await server.stepgate.credentials.recoveryLeft(lena.id), 10);
    await server.stepgate.clients.remove('strict');

    page = await browser.submit(await account(browser), {}, removeForm('totp'));
    assert.equal(page.status, 200);
    assert.match(notice(page), /last second factor, so your recovery codes were removed too/);
    assert.match(page.$('[data-recovery-left]').text(), /0 recovery codes left/);
    assert.equal(await server.stepgate.credentials.recoveryLeft(lena.id), 0);
    const removed = await events('account.factor.removed', lena.id);
    assert.deepEqual(removed.map((e) => [e.details.authenticator, e.details.recovery_codes_removed]), [['totp', 10], ['passkey', 0]]);
  });
});
