import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startStepgate, freePort, dropDatabase, onPostgres, type TestServer } from '../support/server.ts';
import { Browser } from '../support/browser.ts';
import { addClient, addUser, beginLogin, relyingParty, RP_CALLBACK, PASSWORD } from '../support/fixtures.ts';
import { spawnStepgate, type ChildStepgate } from '../support/process.ts';
import { seedClient, seedUser, sharedDatabase } from '../support/seed.ts';

describe('mail transport without an SMTP server', function () {
  this.timeout(60_000);

  describe('development: mails go to <dataDir>/mail and /dev/mail', () => {
    let server: TestServer;
    before(async () => {
      server = await startStepgate();
    });
    after(async () => server?.stop());

    it('a reset mail is written as .eml (text and HTML parts) and listed at /dev/mail, marked development only', async () => {
      const kim = await addUser(server, 'kim');
      await server.stepgate.users.setEmail(kim.id, 'kim@example.org', true);
      const forgot = await new Browser().go(`${server.issuer}/password/forgot`);
      await new Browser().submit(forgot, { identifier: 'kim' });
      await server.stepgate.mail.idle();

      const emls = readdirSync(join(server.dir, 'mail')).filter((n) => n.endsWith('.eml'));
      assert.equal(emls.length, 1);
      const eml = readFileSync(join(server.dir, 'mail', emls[0]!), 'utf8');
      assert.match(eml, /multipart\/alternative/);
      assert.match(eml, /text\/plain/);
      assert.match(eml, /text\/html/);

      const list = await new Browser().go(`${server.issuer}/dev/mail`);
      assert.equal(list.status, 200);
      assert.match(list.$('[role=note]').text(), /Development only/);
      const entry = list.$('a[href^="/dev/mail/"]');
      assert.match(entry.text(), /Reset your password/);
      const shown = await new Browser().go(`${server.issuer}${entry.attr('href')}`);
      assert.match(shown.$('pre').text(), /\/password\/reset\?token=/);
    });
  });

  describe('production without SMTP_URL: mail features are off', () => {
    let server: TestServer;
    before(async () => {
      server = await startStepgate({ overrides: { production: true } });
    });
    after(async () => server?.stop());

    it('no /dev/mail, no reset, no email step, no "Forgot your password?" link', async () => {
      assert.equal(server.stepgate.mail.enabled, false);
      assert.equal((await new Browser().go(`${server.issuer}/dev/mail`)).status, 404);
      const forgot = await new Browser().go(`${server.issuer}/password/forgot`);
      assert.equal(forgot.status, 503);
      assert.match(forgot.html, /not available/);
      const lea = await addUser(server, 'lea', { totp: false });
      await server.stepgate.users.setEmail(lea.id, 'lea@example.org', true);
      const rp = await relyingParty(server, await addClient(server, 'mailapp', 'password,email'));
      const browser = new Browser(RP_CALLBACK);
      const signIn = await browser.go((await beginLogin(rp)).url.href);
      assert.equal(signIn.$('a[href="/password/forgot"]').length, 0);
      const step = await browser.submit(signIn, { username: 'lea', password: PASSWORD });
      assert.equal(step.status, 403, 'an email step cannot be offered');
      assert.match(step.html, /step_unavailable/);
    });
  });
});

describe('mail transport as a process: start-up warning, and an SMTP server that is down', function () {
  this.timeout(90_000);
  let shared: Awaited<ReturnType<typeof sharedDatabase>>;
  let child: ChildStepgate | undefined;

  before(async () => {
    shared = await sharedDatabase();
    const user = await seedUser(shared.services, 'mona');
    await shared.services.users.setEmail(user.id, 'mona@example.org', true);
    await seedClient(shared.services, 'mailapp', 'password,email');
  });
  afterEach(async () => {
    await child?.stop();
    child = undefined;
  });
  after(async () => {
    await shared?.services.db.close();
    if (onPostgres && shared) await dropDatabase(shared.databaseUrl);
  });

  it('production without SMTP_URL says at start that email is disabled', async () => {
    const port = await freePort();
    child = await spawnStepgate({ ...shared.env, PORT: String(port), ISSUER: `https://localhost:${port}`, NODE_ENV: 'production' });
    assert.ok(child.lines.some((l) => l.includes('"level":40') && l.includes('SMTP_URL is not set: email is disabled')), child.lines.join('\n'));
  });

  it('SMTP down: the login pages still work, the send is retried and then logged, without the code or the SMTP password', async () => {
    const [port, closed] = [await freePort(), await freePort()];
    const issuer = `http://localhost:${port}`;
    child = await spawnStepgate({ ...shared.env, PORT: String(port), ISSUER: issuer, SMTP_URL: `smtp://mailer:pw-not-in-logs@127.0.0.1:${closed}` });
    const browser = new Browser(RP_CALLBACK);
    const authorize = `${issuer}/authorize?client_id=mailapp&response_type=code&scope=openid&redirect_uri=${encodeURIComponent(RP_CALLBACK)}&code_challenge=${'a'.repeat(43)}&code_challenge_method=S256`;
    const signIn = await browser.go(authorize);
    assert.equal(signIn.status, 200);
    const step = await browser.submit(signIn, { username: 'mona', password: PASSWORD });
    assert.equal(step.status, 200);
    assert.match(step.$('h1').text(), /Check your email/);
    assert.equal((await new Browser().go(`${issuer}/password/forgot`)).status, 200);

    const until = Date.now() + 30_000;
    while (!child.lines.some((l) => l.includes('giving up')) && Date.now() < until) await new Promise((r) => setTimeout(r, 200));
    const mailLines = child.lines.filter((l) => /mail/.test(l));
    const gaveUp = mailLines.find((l) => l.includes('giving up'));
    assert.ok(gaveUp, `the failure is logged:\n${mailLines.join('\n')}`);
    assert.match(gaveUp, /ECONNREFUSED/);
    assert.match(gaveUp, /"attempts":3/);
    assert.equal(mailLines.filter((l) => l.includes('will retry')).length, 2);
    assert.ok(child.lines.every((l) => !l.includes('pw-not-in-logs')), 'the SMTP password is never logged');
    assert.ok(mailLines.every((l) => !/\b\d{6}\b/.test(l.replace(/"time":\d+/, ''))), 'no code is logged');
  });
});
