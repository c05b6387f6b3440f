import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { startStepgate, type TestServer } from '../support/server.ts';
import { Browser } from '../support/browser.ts';
import { addClient, addUser, beginLogin, relyingParty, RP_CALLBACK, PASSWORD, totpCode } from '../support/fixtures.ts';
import { Lockout } from '../../server/security/lockout.ts';

describe('attacks: brute force', function () {
  this.timeout(60_000);
  let server: TestServer;
  let rp: oidc.Configuration;
  const MAX = 5;

  before(async () => {
    server = await startStepgate({ overrides: { lockout: { maxFailures: MAX, maxFailuresPerAddress: 1000, baseSeconds: 60, maxSeconds: 3600, windowSeconds: 900 } } });
    rp = await relyingParty(server, await addClient(server, 'webapp', 'password,totp'));
  });
  after(async () => server.stop());

  /** One browser per guess, each at its own password form, all posted at once. */
  async function parallelGuesses(username: string, count: number, password: (i: number) => string) {
    const forms = await Promise.all(Array.from({ length: count }, async () => {
      const browser = new Browser(RP_CALLBACK);
      return { browser, page: await browser.go((await beginLogin(rp)).url.href) };
    }));
    return Promise.all(forms.map(({ browser, page }, i) => browser.submit(page, { username, password: password(i) })));
  }

  it('50 parallel wrong guesses: exactly the allowed number is checked, the rest are locked out', async () => {
    await addUser(server, 'target');
    const results = await parallelGuesses('target', 50, (i) => `wrong-${i}`);
    const checked = results.filter((r) => /do not match/.test(r.$('.error').text())).length;
    const locked = results.filter((r) => /Too many attempts/.test(r.$('.error').text())).length;
    assert.equal(checked, MAX, `exactly ${MAX} guesses reached the password check`);
    assert.equal(locked, 50 - MAX);
    assert.ok(results.every((r) => r.status === 400));
    const until = await server.stepgate.lockout.lockedUntil(Lockout.keys('password', 'target', '127.0.0.1').account);
    assert.ok(until !== null && until > Date.now() / 1000 + 30, 'the account key is locked for about a minute');
  });

  it('while locked, even the right password is refused, and the page says when to retry', async () => {
    const [page] = await parallelGuesses('target', 1, () => PASSWORD);
    assert.match(page!.$('.error').text(), /Too many attempts\. Try again in 1 minute\./);
    assert.equal(page!.$('input[name=password]').length, 1);
  });

  it('usernames are normalised before counting (case and Unicode NFKC)', async () => {
    await addUser(server, 'mallory');
    const variants = ['mallory', 'MALLORY', 'Mallory', 'ｍａｌｌｏｒｙ', 'mallorY', 'MaLLoRy', 'mallory '];
    const results = await Promise.all(variants.map(async (name) => (await parallelGuesses(name, 1, () => 'nope'))[0]!));
    const locked = results.filter((r) => /Too many attempts/.test(r.$('.error').text())).length;
    assert.equal(locked, variants.length - MAX, 'all spellings share one counter');
  });

  it('an admin unlock (CLI) lets the user in again', async () => {
    const { execFileSync } = await import('node:child_process');
    const out = execFileSync(process.execPath, ['server/cli.ts', 'user', 'unlock', 'target', '--json'], {
      env: { ...process.env, DATABASE_URL: server.config.databaseUrl, STEPGATE_SECRET_KEYS: server.config.secretKeys.join(','), STEPGATE_DEMO: '0', LOG_LEVEL: 'silent' },
    }).toString();
    const shown = JSON.parse(out) as { username: string; unlocked: boolean; locked_until: number | null };
    assert.deepEqual({ username: shown.username, unlocked: shown.unlocked, locked_until: shown.locked_until }, { username: 'target', unlocked: true, locked_until: null });
    const [page] = await parallelGuesses('target', 1, () => PASSWORD);
    assert.equal(page!.$('input[name=code]').length, 1, 'the TOTP step follows');
  });

  it('TOTP guesses lock the second factor separately', async () => {
    const user = await addUser(server, 'otpvictim');
    const browser = new Browser(RP_CALLBACK);
    let page = await browser.go((await beginLogin(rp)).url.href);
    page = await browser.submit(page, { username: 'otpvictim', password: PASSWORD });
    const good = await totpCode(user.totpSecret);
    const bad = String((Number(good) + 500_000) % 1_000_000).padStart(6, '0');
    for (let i = 0; i < MAX; i++) page = await browser.submit(page, { code: bad });
    page = await browser.submit(page, { code: good });
    assert.match(page.$('.error').text(), /Too many attempts/, 'the right code is refused while the factor is locked');
    // The password factor is not locked by TOTP failures.
    assert.equal(await server.stepgate.lockout.lockedUntil(Lockout.keys('password', 'otpvictim', '127.0.0.1').account), null);
  });
});

describe('attacks: password spraying from one address', function () {
  this.timeout(60_000);
  let server: TestServer;
  let rp: oidc.Configuration;

  before(async () => {
    server = await startStepgate({ overrides: { lockout: { maxFailures: 5, maxFailuresPerAddress: 3, baseSeconds: 60, maxSeconds: 3600, windowSeconds: 900 } } });
    rp = await relyingParty(server, await addClient(server, 'webapp', 'password'));
  });
  after(async () => server.stop());

  async function guess(username: string, password: string) {
    const browser = new Browser(RP_CALLBACK);
    const form = await browser.go((await beginLogin(rp)).url.href);
    return browser.submit(form, { username, password });
  }

  it('one wrong password per account, many accounts: the address locks, and the attacker\'s own good logins do not buy guesses back', async () => {
    await addUser(server, 'attacker', { totp: false });
    for (const name of ['victim1', 'victim2']) {
      assert.match((await guess(name, 'Winter2026!')).$('.error').text(), /do not match/);
      assert.equal((await guess('attacker', PASSWORD)).$('button[value=allow]').length, 1, 'the attacker signs in to their own account');
    }
    assert.match((await guess('victim3', 'Winter2026!')).$('.error').text(), /do not match/, 'the third failure is still checked');
    const locked = await guess('victim4', 'Winter2026!');
    assert.match(locked.$('.error').text(), /Too many attempts/, 'the address is locked after three failures, successes in between or not');
  });

  it('guesses from a locked address are refused without counting against the account they name', async () => {
    await addUser(server, 'victim5', { totp: false });
    // the address is locked by the test before; more guesses than the account's own limit (5)
    for (let i = 0; i < 7; i++) assert.match((await guess('victim5', `guess-${i}`)).$('.error').text(), /Too many attempts/);
    const counted = await server.stepgate.db.select<{ key: string }>('SELECT key FROM login_failures WHERE key = :key', { key: 'password:account:victim5' });
    assert.deepEqual(counted, [], 'no attempt counted on the account');
  });
});
