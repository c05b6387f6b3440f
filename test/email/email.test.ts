import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { startStepgate, type TestServer } from '../support/server.ts';
import { Browser, type Page } from '../support/browser.ts';
import { addClient, addUser, beginLogin, completeLogin, relyingParty, RP_CALLBACK, PASSWORD, totpCode } from '../support/fixtures.ts';
import { startSmtp, codeIn, linkIn, type TestSmtp } from '../support/smtp.ts';
import { defaults } from '../../config/defaults.ts';
import { Manage } from '../../server/manage/index.ts';
import { consoleLogin } from '../support/admin.ts';

const epoch = () => Math.floor(Date.now() / 1000);
const otherCode = (code: string) => String((Number(code) + 1) % 1_000_000).padStart(6, '0');

/** Every mail has both parts, names the broker, and says what to do if it was not you. */
function assertWellFormed(mail: { text: string; html: string; subject: string }) {
  assert.match(mail.subject, /^\[stepgate\] /);
  assert.match(mail.text, /If this was not you/);
  assert.match(mail.html, /If this was not you/);
  assert.match(mail.text, /— stepgate/);
}

describe('email over a real SMTP server', function () {
  this.timeout(60_000);
  let server: TestServer;
  let smtp: TestSmtp;
  let mailRp: oidc.Configuration;
  let webRp: oidc.Configuration;
  let pwRp: oidc.Configuration;

  async function confirmedUser(name: string, opts: { totp?: boolean } = {}) {
    const user = await addUser(server, name, opts);
    await server.stepgate.users.setEmail(user.id, `${name}@example.org`, true);
    return user;
  }

  /** Password step of a login at the password,email client; returns the email-code page. */
  async function toCodePage(browser: Browser, username: string): Promise<{ page: Page; login: Awaited<ReturnType<typeof beginLogin>> }> {
    const login = await beginLogin(mailRp);
    const page = await browser.go(login.url.href);
    return { page: await browser.submit(page, { username, password: PASSWORD }), login };
  }

  before(async () => {
    smtp = await startSmtp();
    server = await startStepgate({ overrides: { mail: { ...defaults.mail, smtpUrl: smtp.url } } });
    mailRp = await relyingParty(server, await addClient(server, 'mailapp', 'password,email'));
    webRp = await relyingParty(server, await addClient(server, 'webapp', 'password,totp'));
    pwRp = await relyingParty(server, await addClient(server, 'pwonly', 'password'));
  });
  after(async () => {
    await server?.stop();
    await smtp?.stop();
  });

  describe('email one-time codes', () => {
    it('the code from the received mail completes password,email: amr pwd otp mfa; a wrong code is refused first', async () => {
      const carol = await confirmedUser('carol', { totp: false });
      const browser = new Browser(RP_CALLBACK);
      const codePage = await toCodePage(browser, 'carol');
      let page = codePage.page;
      const login = codePage.login;
      assert.equal(page.status, 200);
      assert.match(page.$('h1').text(), /Check your email/);
      assert.match(page.html, /c\*+@example\.org/, 'the address is shown masked');
      const mail = await smtp.take('carol@example.org', /sign-in code/);
      assertWellFormed(mail);
      const code = codeIn(mail);
      assert.ok(mail.html.includes(code), 'the HTML part carries the code too');

      page = await browser.submit(page, { code: otherCode(code) });
      assert.equal(page.status, 400);
      assert.match(page.$('.error').text(), /not right/);
      page = await browser.submit(page, { code });
      page = await browser.submit(page, {}, /consent/, { name: 'decision', value: 'allow' });
      assert.ok(page.location?.startsWith(RP_CALLBACK), `ends at the relying party, got ${page.status}`);
      const tokens = await oidc.authorizationCodeGrant(mailRp, new URL(page.location!), { pkceCodeVerifier: login.verifier, expectedState: login.state });
      assert.deepEqual([...(tokens.claims()!.amr as string[])].sort(), ['mfa', 'otp', 'pwd']);
      const info = await oidc.fetchUserInfo(mailRp, tokens.access_token, carol.id);
      assert.equal(info.email, 'carol@example.org');
      assert.equal(info.email_verified, true);
    });

    it('codes are stored hashed, used once even under concurrency, and dead after 5 wrong tries or when expired', async () => {
      const dan = await confirmedUser('dan', { totp: false });
      const { tokens } = server.stepgate.mail;
      const a = await tokens.issueCode({ accountId: dan.id, email: 'dan@example.org', ttl: 600 });
      const [row] = await server.stepgate.db.select<{ code_hash: string }>("SELECT code_hash FROM email_tokens WHERE account_id = :id AND purpose = 'code'", { id: dan.id });
      assert.equal(row!.code_hash.length, 43, 'an HMAC is stored, not the code');
      assert.equal(await tokens.checkCode(a.challenge, 'someone-else', a.code), 'dead', 'a challenge belongs to its account');
      const raced = await Promise.all(Array.from({ length: 6 }, () => tokens.checkCode(a.challenge, dan.id, a.code)));
      assert.equal(raced.filter((r) => r === 'ok').length, 1, `exactly one of six racing uses passes: ${raced.join(',')}`);
      assert.equal(await tokens.checkCode(a.challenge, dan.id, a.code), 'dead', 'a used code is dead');

      const b = await tokens.issueCode({ accountId: dan.id, email: 'dan@example.org', ttl: 600 });
      for (let i = 0; i < 5; i++) assert.equal(await tokens.checkCode(b.challenge, dan.id, otherCode(b.code)), 'wrong');
      assert.equal(await tokens.checkCode(b.challenge, dan.id, b.code), 'dead', 'the right code after 5 wrong tries is refused');

      const c = await tokens.issueCode({ accountId: dan.id, email: 'dan@example.org', ttl: 600 });
      await server.stepgate.db.change("UPDATE email_tokens SET expires_at = :past WHERE account_id = :id AND purpose = 'code'", { id: dan.id, past: epoch() - 1 });
      assert.equal(await tokens.checkCode(c.challenge, dan.id, c.code), 'dead', 'an expired code is refused');
    });

    it('an expired code is refused in the browser; a resend within 30 s is refused; a new code after that works', async () => {
      const eve = await confirmedUser('eve', { totp: false });
      const browser = new Browser(RP_CALLBACK);
      let { page } = await toCodePage(browser, 'eve');
      const first = codeIn(await smtp.take('eve@example.org', /sign-in code/));
      await server.stepgate.db.change("UPDATE email_tokens SET expires_at = :past WHERE account_id = :id AND purpose = 'code'", { id: eve.id, past: epoch() - 1 });
      page = await browser.submit(page, { code: first });
      assert.equal(page.status, 400);
      assert.match(page.$('.error').text(), /expired/);

      page = await browser.submit(page, {}, /step/, { name: 'resend', value: '1' });
      assert.equal(page.status, 400);
      assert.match(page.$('.error').text(), /sent recently/);
      await server.stepgate.mail.idle();
      assert.equal(smtp.untaken('eve@example.org').length, 0, 'no second mail within 30 s');

      await server.stepgate.db.change("UPDATE mail_sends SET at = at - 40 WHERE key LIKE 'code:%'", {});
      page = await browser.submit(page, {}, /step/, { name: 'resend', value: '1' });
      assert.equal(page.status, 200);
      assert.match(page.$('.notice').text(), /We sent a code/);
      const second = codeIn(await smtp.take('eve@example.org', /sign-in code/));
      page = await browser.submit(page, { code: first });
      assert.equal(page.status, 400, 'the first code does not work for the new challenge');
      page = await browser.submit(page, { code: second });
      assert.equal(page.$('button[value=allow]').length, 1, 'on to consent');
    });

    it('five codes an hour per account: the sixth is refused, and nothing is mailed', async () => {
      const fay = await confirmedUser('fay', { totp: false });
      for (let i = 1; i <= 5; i++) {
        await server.stepgate.db.change('INSERT INTO mail_sends (key, at) VALUES (:key, :at)', { key: `code:account:${fay.id}`, at: epoch() - 600 * i });
      }
      const { page } = await toCodePage(new Browser(RP_CALLBACK), 'fay');
      assert.equal(page.status, 400);
      assert.match(page.$('.error').text(), /in \d+ minutes/);
      await server.stepgate.mail.idle();
      assert.equal(smtp.untaken('fay@example.org').length, 0);
    });

    it('five codes an hour per address too, whichever account asks', async () => {
      await confirmedUser('gus', { totp: false });
      for (let i = 1; i <= 5; i++) {
        await server.stepgate.db.change('INSERT INTO mail_sends (key, at) VALUES (:key, :at)', { key: 'code:address:gus@example.org', at: epoch() - 600 * i });
      }
      const { page } = await toCodePage(new Browser(RP_CALLBACK), 'gus');
      assert.equal(page.status, 400);
      assert.match(page.$('.error').text(), /in \d+ minutes/);
    });

    it('wrong codes count toward the account lockout, and the owner gets a notice', async () => {
      const gina = await confirmedUser('gina', { totp: false });
      const browser = new Browser(RP_CALLBACK);
      let { page } = await toCodePage(browser, 'gina');
      const code = codeIn(await smtp.take('gina@example.org', /sign-in code/));
      for (let i = 0; i < 5; i++) {
        page = await browser.submit(page, { code: otherCode(code) });
        assert.equal(page.status, 400);
      }
      page = await browser.submit(page, { code });
      assert.equal(page.status, 400);
      assert.match(page.$('.error').text(), /Too many attempts/);
      assert.ok(await server.stepgate.lockout.lockedUntil(`otp:account:${gina.id}`), 'the account is locked for one-time codes');
      const notice = await smtp.take('gina@example.org', /Sign-in to your account is paused/);
      assertWellFormed(notice);
    });
  });

  describe('verified address', () => {
    it('a new address is used only after its link is followed (a click, once); email_verified tells the truth; the old verified address is told', async () => {
      const hank = await addUser(server, 'hank');
      const browser = new Browser(RP_CALLBACK);
      const login = await beginLogin(webRp);
      const last = await completeLogin(browser, login.url, hank);
      const tokens = await oidc.authorizationCodeGrant(webRp, new URL(last.location!), { pkceCodeVerifier: login.verifier, expectedState: login.state });
      assert.equal((await oidc.fetchUserInfo(webRp, tokens.access_token, hank.id)).email_verified, false, 'an address set by an admin is not verified');

      const account = await browser.go(`${server.issuer}/account`);
      assert.match(account.html, /not confirmed yet/);
      const sent = await browser.submit(account, { email: 'hank.new@example.net' }, /\/account\/email$/);
      assert.match(sent.$('.notice').text(), /confirmation link/);
      const mail = await smtp.take('hank.new@example.net', /Confirm your email address/);
      assertWellFormed(mail);
      assert.equal((await server.stepgate.users.byId(hank.id))!.email, 'hank@example.org', 'nothing changes before the link is followed');

      const mailClient = new Browser();
      const link = linkIn(mail, '/account/email/verify');
      const confirm = await mailClient.go(link);
      assert.equal(confirm.status, 200, 'opening the link (a mail scanner may) does not use it');
      const done = await mailClient.submit(confirm, {});
      assert.match(done.$('h1').text(), /Address confirmed/);
      assert.equal((await mailClient.submit(confirm, {})).status, 400, 'the link works once');
      const after = (await server.stepgate.users.byId(hank.id))!;
      assert.deepEqual([after.email, after.emailVerified], ['hank.new@example.net', true]);
      const info = await oidc.fetchUserInfo(webRp, tokens.access_token, hank.id);
      assert.deepEqual([info.email, info.email_verified], ['hank.new@example.net', true]);
      await server.stepgate.mail.idle();
      assert.equal(smtp.untaken('hank@example.org').length, 0, 'an unverified old address gets nothing');

      const limited = await browser.submit(await browser.go(`${server.issuer}/account`), { email: 'hank@example.com' }, /\/account\/email$/);
      assert.equal(limited.status, 429, 'one confirmation mail a minute per account');
      await server.stepgate.db.change("DELETE FROM mail_sends WHERE key LIKE 'verify:%'", {});
      const again = await browser.submit(await browser.go(`${server.issuer}/account`), { email: 'hank@example.com' }, /\/account\/email$/);
      assert.equal(again.status, 200);
      await mailClient.submit(await mailClient.go(linkIn(await smtp.take('hank@example.com', /Confirm/), '/account/email/verify')), {});
      const notice = await smtp.take('hank.new@example.net', /email address was changed/);
      assertWellFormed(notice);
      assert.match(notice.text, /hank@example\.com/);
    });

    it('changing the address needs a login that used every factor of the account', async () => {
      const ida = await addUser(server, 'ida');
      const browser = new Browser(RP_CALLBACK);
      const login = await beginLogin(pwRp);
      let page = await browser.go(login.url.href);
      page = await browser.submit(page, { username: 'ida', password: PASSWORD });
      const account = await browser.go(`${server.issuer}/account`);
      const refused = await browser.submit(account, { email: 'ida.new@example.net' }, /\/account\/email$/);
      assert.equal(refused.status, 403);
      assert.match(refused.html, /recent sign-in with every factor/);
      await server.stepgate.mail.idle();
      assert.equal(smtp.untaken('ida.new@example.net').length, 0);
      assert.equal((await server.stepgate.users.byId(ida.id))!.email, 'ida@example.org');
    });
  });

  describe('forgotten password', () => {
    it('link by mail → second factor (TOTP) → new password; then signed out everywhere and told; unknown accounts get the same answer', async () => {
      const ivan = await confirmedUser('ivan');
      const earlier = new Browser(RP_CALLBACK);
      const first = await beginLogin(webRp);
      const last = await completeLogin(earlier, first.url, ivan);
      const tokens = await oidc.authorizationCodeGrant(webRp, new URL(last.location!), { pkceCodeVerifier: first.verifier, expectedState: first.state });
      assert.ok(tokens.refresh_token);

      const browser = new Browser(RP_CALLBACK);
      const signIn = await browser.go((await beginLogin(webRp)).url.href);
      assert.equal(signIn.$('a[href="/password/forgot"]').length, 1, 'the password page offers the reset');
      const forgot = await browser.go(`${server.issuer}/password/forgot`);
      const known = await browser.submit(forgot, { identifier: 'ivan' });
      const unknownName = await new Browser().submit(forgot, { identifier: 'nobody-here' });
      const unknownAddress = await new Browser().submit(forgot, { identifier: 'nobody@example.org' });
      for (const other of [unknownName, unknownAddress]) {
        assert.equal(other.status, known.status);
        assert.equal(other.html, known.html, 'the same answer whether the account exists or not');
      }
      assert.match(known.html, /If an account/);
      const mail = await smtp.take('ivan@example.org', /Reset your password/);
      assertWellFormed(mail);
      await server.stepgate.mail.idle();
      assert.equal(smtp.mails.filter((m) => m.to.includes('nobody')).length, 0);
      const link = linkIn(mail, '/password/reset');

      let page = await browser.go(link);
      assert.equal(page.$('input[name=code]').length, 1, 'the second factor is asked first');
      assert.equal(page.$('input[name=password]').length, 0);
      const skipped = await browser.go(link, { method: 'POST', form: { password: 'a brand new password', password2: 'a brand new password' } });
      assert.equal(skipped.$('input[name=code]').length, 1, 'a new password before the factor is not taken');
      page = await browser.submit(page, { code: otherCode(await totpCode(ivan.totpSecret, 1)) });
      assert.equal(page.status, 400);
      page = await browser.submit(page, { code: await totpCode(ivan.totpSecret, 1) });
      assert.equal(page.$('input[name=password2]').length, 1, 'then the new password');
      for (const [password, password2, why] of [['short', 'short', /at least 8/], [PASSWORD, PASSWORD, /different from your previous/], ['a brand new password', 'another one entirely', /not the same/]] as const) {
        page = await browser.submit(page, { password, password2 });
        assert.equal(page.status, 400);
        assert.match(page.$('.error').text(), why);
      }
      page = await browser.submit(page, { password: 'a brand new password', password2: 'a brand new password' });
      assert.match(page.$('h1').text(), /password was changed/);

      const user = (await server.stepgate.users.byId(ivan.id))!;
      assert.ok(await server.stepgate.passwords.verify(user.passwordHash, 'a brand new password'));
      await assert.rejects(oidc.refreshTokenGrant(webRp, tokens.refresh_token!), 'refresh tokens are revoked');
      const again = await earlier.go((await beginLogin(webRp)).url.href);
      assert.equal(again.$('input[name=password]').length, 1, 'the earlier browser session is gone');
      const notice = await smtp.take('ivan@example.org', /password was reset/);
      assertWellFormed(notice);
      assert.equal((await browser.go(link)).status, 400, 'the link works once');
      await server.stepgate.audit.flush();
      const audited = await server.stepgate.db.select<{ kind: string; details: string }>('SELECT kind, details FROM audit_events WHERE subject = :id ORDER BY id', { id: ivan.id });
      for (const kind of ['auth.password.reset_requested', 'auth.password.reset']) assert.ok(audited.some((a) => a.kind === kind), `${kind} is audited`);
      // The reset's factor check is audited like a sign-in step: the wrong code, then the right one.
      const resetSteps = audited.filter((a) => a.kind.startsWith('auth.step.') && JSON.parse(a.details).door === 'password_reset');
      assert.deepEqual(resetSteps.map((a) => [a.kind, JSON.parse(a.details).authenticator]), [['auth.step.failed', 'totp'], ['auth.step.passed', 'totp']]);
    });

    it('an old link dies when another reset changes the password; requests are limited per account', async () => {
      const jill = await confirmedUser('jill', { totp: false });
      const forgot = await new Browser().go(`${server.issuer}/password/forgot`);
      const ask = async () => new Browser().submit(forgot, { identifier: 'jill@example.org' });
      await ask();
      const linkA = linkIn(await smtp.take('jill@example.org', /Reset your password/), '/password/reset');
      await ask();
      await server.stepgate.mail.idle();
      assert.equal(smtp.untaken('jill@example.org').length, 0, 'a second request within a minute sends nothing');
      await server.stepgate.db.change("DELETE FROM mail_sends WHERE key LIKE 'reset:%'", {});
      await ask();
      const linkB = linkIn(await smtp.take('jill@example.org', /Reset your password/), '/password/reset');

      const browser = new Browser();
      let page = await browser.go(linkB);
      assert.equal(page.$('input[name=password2]').length, 1, 'no second factor: straight to the new password');
      page = await browser.submit(page, { password: 'jill changed it', password2: 'jill changed it' });
      assert.match(page.$('h1').text(), /password was changed/);
      const dead = await new Browser().go(linkA);
      assert.equal(dead.status, 400);
      assert.match(dead.html, /does not work/);
      assert.ok(await server.stepgate.passwords.verify((await server.stepgate.users.byId(jill.id))!.passwordHash, 'jill changed it'));
    });
  });

  describe('notifications', () => {
    it('a browser remembered for the first time is told; the same browser again is not', async () => {
      const max = await confirmedUser('max');
      await addClient(server, 'remembering', JSON.stringify({ steps: [{ options: ['password'] }, { options: ['totp'], remember: 30 * 86400 }] }));
      const rp = await relyingParty(server, { clientId: 'remembering', secret: 'remembering-secret-0123456789' });
      const browser = new Browser(RP_CALLBACK);
      let page = await browser.go((await beginLogin(rp)).url.href);
      page = await browser.submit(page, { username: 'max', password: PASSWORD });
      assert.equal(page.$('input[name=remember_device]').length, 1, 'remembering is offered');
      page = await browser.submit(page, { code: await totpCode(max.totpSecret), remember_device: '1' });
      const notice = await smtp.take('max@example.org', /new device is remembered/);
      assertWellFormed(notice);
      page = await browser.go((await beginLogin(rp, { prompt: 'login' })).url.href);
      page = await browser.submit(page, { username: 'max', password: PASSWORD });
      // Asked again (prompt=login) and remembered again, or skipped as remembered: either way no news.
      if (page.$('input[name=code]').length) page = await browser.submit(page, { code: await totpCode(max.totpSecret, 1), remember_device: '1' });
      assert.ok(page.location?.startsWith(RP_CALLBACK) || page.$('button[value=allow]').length === 1, `signed in again: ${page.status}`);
      await server.stepgate.mail.idle();
      assert.equal(smtp.untaken('max@example.org').length, 0, 'no second notice for a browser already remembered');
    });

    it('an admin password reset and TOTP replacement are told to the verified address only; an admin-set address is unverified', async () => {
      const ken = await confirmedUser('ken');
      const lou = await addUser(server, 'lou');
      const s = server.stepgate;
      const manage = new Manage(s);
      const by = { actor: 'test', address: '127.0.0.1' };
      await manage.users.resetPassword(ken.id, 'an admin chose this', by);
      await manage.users.resetTotp(ken.id, by);
      await manage.users.resetPassword(lou.id, 'an admin chose this', by);
      assertWellFormed(await smtp.take('ken@example.org', /Your password was changed/));
      const factor = await smtp.take('ken@example.org', /sign-in method was added/);
      assert.match(factor.text, /TOTP/);
      await s.mail.idle();
      assert.equal(smtp.untaken('lou@example.org').length, 0, 'an unverified address gets no notice');
      assert.ok(smtp.mails.every((m) => !m.text.includes('an admin chose this')), 'no secret in any mail');

      await manage.users.update(ken.id, { email: 'ken@example.org' }, by);
      assert.equal((await s.users.byId(ken.id))!.emailVerified, true, 'saving the same address keeps it verified');
      await manage.users.update(ken.id, { email: 'ken@elsewhere.example' }, by);
      assert.equal((await s.users.byId(ken.id))!.emailVerified, false, 'an address an admin sets is not verified');
    });
  });

  describe('mails in the user\'s language', () => {
    const GERMAN = { 'accept-language': 'de-DE,de;q=0.9,en;q=0.5' };

    it('a German browser gets its sign-in code in German (subject, text, HTML lang, Content-Language); the account keeps the language', async () => {
      const greta = await confirmedUser('greta', { totp: false });
      assert.equal((await server.stepgate.users.byId(greta.id))!.locale, null);
      const browser = new Browser(RP_CALLBACK, GERMAN);
      const { page } = await toCodePage(browser, 'greta');
      assert.equal(page.status, 200);
      // The code page speaks German too.
      assert.equal(page.$('h1').text(), 'Sehen Sie in Ihren E-Mails nach');
      assert.match(page.$('.notice').text(), /^Wir haben einen Code an g\*+@example\.org gesendet\.$/);
      const wrong = await browser.submit(page, { code: '000000' });
      assert.equal(wrong.status, 400);
      assert.match(wrong.$('.error').text(), /Dieser Code stimmt nicht\. Geben Sie den 6-stelligen Code aus der E-Mail ein/);
      const mail = await smtp.take('greta@example.org', /Anmeldecode/);
      assert.equal(mail.subject, '[stepgate] Ihr Anmeldecode');
      assert.match(mail.text, /Jemand meldet sich beim Konto „greta“ bei stepgate an/);
      assert.match(mail.text, /Er gilt 10 Minuten und funktioniert einmal\./);
      assert.match(mail.text, /Falls Sie das nicht waren: geben Sie diesen Code niemandem weiter/);
      assert.match(mail.html, /<html lang="de">/);
      assert.equal(mail.raw.headers.get('content-language'), 'de');
      assert.ok(!/If this was not you/.test(mail.text), 'no English left');
      assert.ok(mail.text.includes(codeIn(mail)));
      assert.equal((await server.stepgate.users.byId(greta.id))!.locale, 'de', 'the language of the sign-in is kept');
    });

    it('the stored language wins over the request\'s: an admin\'s English request sends a German user a German notice', async () => {
      const hans = await confirmedUser('hans');
      // Signs in once with an English browser that asks ui_locales=de: the application's choice wins.
      const login = await beginLogin(webRp, { ui_locales: 'de' });
      const done = await completeLogin(new Browser(RP_CALLBACK, { 'accept-language': 'en' }), login.url, hans);
      assert.ok(done.location?.startsWith(RP_CALLBACK) || done.status === 200);
      assert.equal((await server.stepgate.users.byId(hans.id))!.locale, 'de');
      // The admin acts from the console in English.
      const { browser } = await consoleLogin(server, await addUser(server, 'admin-en', { roles: ['admin'] }));
      const ask = await browser.request(`${server.issuer}/admin/users/${hans.id}/password`, { headers: { 'accept-language': 'en' } });
      const reset = await browser.submit(ask, { password: 'ein neues langes passwort' }, /password$/);
      assert.equal(reset.status, 200, reset.$('.message').text());
      const notice = await smtp.take('hans@example.org', /Passwort wurde geändert/);
      assert.equal(notice.subject, '[stepgate] Ihr Passwort wurde geändert');
      assert.match(notice.text, /Sicherheitshinweis für das Konto „hans“/);
      // A factor is named in the user's language too.
      await new Manage(server.stepgate).users.resetTotp(hans.id, { actor: 'test', address: null });
      const factor = await smtp.take('hans@example.org', /Anmeldemethode wurde hinzugefügt/);
      assert.match(factor.text, /Ihrem Konto wurde eine Anmeldemethode hinzugefügt: Authenticator-App \(TOTP\), die jede bisherige ersetzt\./);
      // The time is written the German way, in UTC.
      assert.match(notice.text, /Wann: \w+, \d{1,2}\. \w+ 20\d\d um \d{2}:\d{2}:\d{2} UTC/);
    });

    it('without a stored language the request\'s is used (a forgotten password asked from a German browser); else English', async () => {
      const irma = await confirmedUser('irma');
      const german = new Browser(undefined, GERMAN);
      const forgot = await german.go(`${server.issuer}/password/forgot`);
      assert.equal(forgot.$('h1').text(), 'Passwort vergessen?');
      const empty = await german.submit(forgot, { identifier: ' ' });
      assert.equal(empty.$('.error').text(), 'Geben Sie Ihren Benutzernamen oder Ihre E-Mail-Adresse ein.');
      const sent = await german.submit(forgot, { identifier: 'irma' });
      assert.equal(sent.$('h1').text(), 'Sehen Sie in Ihren E-Mails nach');
      const mail = await smtp.take('irma@example.org', /Passwort/);
      assert.equal(mail.subject, '[stepgate] Setzen Sie Ihr Passwort zurück');
      assert.match(mail.text, /Neues Passwort wählen:\n/);
      assert.ok(linkIn(mail, '/password/reset'));
      // No request at all (the management service from a script): English.
      await new Manage(server.stepgate).users.resetPassword(irma.id, 'another long password', { actor: 'test', address: null });
      const english = await smtp.take('irma@example.org', /password was changed/);
      assertWellFormed(english);
    });
  });
});
