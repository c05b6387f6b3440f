import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { Manage } from '../../server/manage/index.ts';
import { startStepgate, type TestServer } from '../support/server.ts';
import { Browser } from '../support/browser.ts';
import { addClient, addUser, beginLogin, relyingParty, RP_CALLBACK, PASSWORD } from '../support/fixtures.ts';
import { consoleLogin } from '../support/admin.ts';
import { DEVICE_COOKIE } from '../../server/security/known-devices.ts';

/**
 * Lockout that attackers cannot turn against users: OWASP's device cookie. A browser that
 * signed in as an account before counts its failures for that account on its own.
 */
describe('attacks: locking a user out on purpose', function () {
  this.timeout(90_000);
  let server: TestServer;
  let rp: oidc.Configuration;
  const MAX = 3;

  before(async () => {
    server = await startStepgate({ overrides: { lockout: { maxFailures: MAX, maxFailuresPerAddress: 1000, baseSeconds: 60, maxSeconds: 3600, windowSeconds: 900 } } });
    rp = await relyingParty(server, await addClient(server, 'webapp', 'password'));
  });
  after(async () => server.stop());

  /** A browser that keeps only the device cookie of `from`: the same browser after its session ended. */
  async function sameDeviceNewSession(from: Browser, stopAt?: string): Promise<Browser> {
    const next = new Browser(stopAt);
    const device = (await from.jar.getCookies(`${server.issuer}/interaction/x`)).find((c) => c.key === DEVICE_COOKIE);
    assert.ok(device, 'the browser got a device cookie at its successful sign-in');
    await next.jar.setCookie(device, `${server.issuer}/interaction/x`);
    return next;
  }

  async function passwordAttempt(browser: Browser, username: string, password: string) {
    const form = await browser.go((await beginLogin(rp)).url.href);
    return browser.submit(form, { username, password });
  }

  it('an attacker spraying an admin\'s username on the public /admin/login cannot stop that admin signing in from a browser used before', async () => {
    const admin = await addUser(server, 'root', { roles: ['admin'] });
    const first = await consoleLogin(server, admin);
    assert.equal(first.page.status, 200, 'signed in to the console once');
    for (let i = 0; i < MAX + 4; i++) {
      const browser = new Browser();
      const page = await browser.submit(await browser.go(`${server.issuer}/admin/login`), { username: 'root', password: `guess-${i}` });
      assert.match(page.$('.error').text(), i < MAX ? /do not match/ : /Too many attempts/);
    }
    const again = await consoleLogin(server, admin, { browser: await sameDeviceNewSession(first.browser), totpOffset: 1 });
    assert.equal(again.page.status, 200);
    assert.match(again.page.html, /root/, 'the admin is in the console');
    const stranger = new Browser();
    const locked = await stranger.submit(await stranger.go(`${server.issuer}/admin/login`), { username: 'root', password: PASSWORD });
    assert.match(locked.$('.error').text(), /Too many attempts/, 'the rest of the world stays locked out, even with the right password');
  });

  it('a known browser\'s own wrong guesses are counted exactly, and lock it too', async () => {
    await addUser(server, 'dana', { totp: false });
    const first = new Browser(RP_CALLBACK);
    assert.equal((await passwordAttempt(first, 'dana', PASSWORD)).$('button[value=allow]').length, 1, 'signed in: the consent page');
    const known = await sameDeviceNewSession(first, RP_CALLBACK);
    for (let i = 0; i < MAX; i++) assert.match((await passwordAttempt(known, 'dana', `typo-${i}`)).$('.error').text(), /do not match/);
    assert.match((await passwordAttempt(known, 'dana', PASSWORD)).$('.error').text(), /Too many attempts/);
    // An admin's unlock frees the known browser too, not only the rest of the world.
    await new Manage(server.stepgate).users.unlock('dana', { actor: 'cli:test', address: null });
    assert.equal((await passwordAttempt(known, 'dana', PASSWORD)).$('button[value=allow]').length, 1, 'after the unlock, the known browser signs in');
  });

  it('a device cookie earned by one account buys nothing for another', async () => {
    await addUser(server, 'eve', { totp: false });
    await addUser(server, 'frank', { totp: false });
    const eve = new Browser(RP_CALLBACK);
    assert.equal((await passwordAttempt(eve, 'eve', PASSWORD)).$('button[value=allow]').length, 1, 'signed in: the consent page');
    const eveDevice = await sameDeviceNewSession(eve, RP_CALLBACK);
    for (let i = 0; i < MAX; i++) await passwordAttempt(new Browser(RP_CALLBACK), 'frank', `guess-${i}`);
    assert.match((await passwordAttempt(eveDevice, 'frank', PASSWORD)).$('.error').text(), /Too many attempts/);
  });
});
