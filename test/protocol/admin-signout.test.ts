import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as oidc from 'openid-client';
import { startStepgate, type TestServer } from '../support/server.ts';
import { Browser } from '../support/browser.ts';
import { addClient, addUser, beginLogin, completeLogin, relyingParty, RP_CALLBACK } from '../support/fixtures.ts';
import { api, clientToken, consoleLogin } from '../support/admin.ts';
import { inProcessCli } from '../support/cli.ts';
import { runCli } from '../support/process.ts';
import { startSmtp, linkIn, type TestSmtp } from '../support/smtp.ts';
import { logoutReceiver, type LogoutReceiver } from '../support/logout-receiver.ts';
import { defaults } from '../../config/defaults.ts';
import type { ClientSettings } from '../../server/storage/clients.ts';

type User = Awaited<ReturnType<typeof addUser>>;

/**
 * Sessions ended anywhere but /logout — an admin disabling or deleting an account, taking
 * its admin role or setting its password (API and CLI), a forgotten-password reset, "sign
 * out other browsers" at /account — send back-channel logout tokens to the applications
 * signed in through them. The receiver is a real HTTP endpoint verifying each token with
 * jose against the broker's /jwks (the CLI signs with the keys from storage: same /jwks).
 */
describe('protocol: sessions ended from the admin side and by resets send back-channel logout tokens', function () {
  this.timeout(60_000);
  const secretKey = randomBytes(32).toString('base64');
  let server: TestServer;
  let smtp: TestSmtp;
  let receiver: LogoutReceiver;
  let token: string;
  const warnings: Record<string, unknown>[] = [];
  const cli = (args: string[], stdin?: string) => inProcessCli(server, secretKey)(args, stdin);

  const configure = async (clientId: string, settings: ClientSettings) => {
    const current = (await server.stepgate.clients.get(clientId))!;
    await server.stepgate.clients.update(clientId, { grantTypes: current.grantTypes, settings: { ...current.settings, ...settings } });
  };

  /** Signs `user` in to each client in `browser` (password, then SSO); the id_token's sid and the refresh token per client. */
  async function signIn(browser: Browser, user: User, clientIds: string[]) {
    const out: Record<string, { sid: unknown; refresh: string; rp: oidc.Configuration }> = {};
    for (const clientId of clientIds) {
      const rp = await relyingParty(server, { clientId, secret: `${clientId}-secret-0123456789` });
      const start = await beginLogin(rp, { scope: 'openid offline_access', prompt: 'consent' });
      const back = await completeLogin(browser, start.url, user);
      const tokens = await oidc.authorizationCodeGrant(rp, new URL(back.location!), { pkceCodeVerifier: start.verifier, expectedState: start.state });
      out[clientId] = { sid: tokens.claims()!.sid, refresh: tokens.refresh_token!, rp };
    }
    return out;
  }

  /** The logout tokens received since `before`, as [client, sid] sorted; each names `user`. */
  function logoutsSince(before: number, user: User): [string, unknown][] {
    assert.deepEqual(receiver.rejected, [], 'every logout token verified');
    const got = receiver.received.slice(before);
    for (const t of got) assert.equal(t.claims.sub, user.id, 'the logout token names the account');
    return got.map((t): [string, unknown] => [t.clientId, t.claims.sid]).sort((a, b) => a[0].localeCompare(b[0]) || String(a[1]).localeCompare(String(b[1])));
  }

  before(async () => {
    smtp = await startSmtp();
    server = await startStepgate({ secretKey, overrides: { mail: { ...defaults.mail, smtpUrl: smtp.url } } });
    const logger = server.stepgate.logger as unknown as { warn: (obj: Record<string, unknown>, msg: string) => void };
    logger.warn = (obj, msg) => { warnings.push({ ...obj, msg }); };
    receiver = await logoutReceiver(server.issuer);
    token = await clientToken(server, 'automation', { adminApi: true });
    for (const id of ['mail', 'wiki', 'chat', 'down']) await addClient(server, id, 'password');
    // mail wants sid in its logout tokens; wiki does not; chat registered no back-channel URI;
    // down's endpoint refuses connections (port 9)
    await configure('mail', { backchannelLogoutUri: receiver.url('mail'), backchannelLogoutSessionRequired: true, allowPrivateNetwork: true });
    await configure('wiki', { backchannelLogoutUri: receiver.url('wiki'), allowPrivateNetwork: true });
    await configure('down', { backchannelLogoutUri: 'http://127.0.0.1:9/backchannel', allowPrivateNetwork: true });
  });
  after(async () => {
    await server?.stop();
    await smtp?.stop();
    receiver?.close();
  });

  it('disabling through the admin API: a verified logout token per signed-in client and session, the change stands when one application is down', async () => {
    const dora = await addUser(server, 'dora', { totp: false });
    const first = new Browser(RP_CALLBACK);
    const a = await signIn(first, dora, ['mail', 'wiki', 'chat', 'down']);
    const second = new Browser(RP_CALLBACK);
    const b = await signIn(second, dora, ['wiki']);
    const before = receiver.received.length;

    const answer = await api(server, 'POST', `/users/${dora.id}/disable`, { token });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.body.user.disabled, true);
    assert.deepEqual(logoutsSince(before, dora), [['mail', a.mail!.sid], ['wiki', undefined], ['wiki', undefined]]);
    assert.equal(typeof a.mail!.sid, 'string');
    assert.ok(warnings.some((w) => w.msg === 'back-channel logout not delivered' && w.client_id === 'down'), 'the failed delivery is logged');
    assert.equal((await oidc.tokenIntrospection(a.mail!.rp, a.mail!.refresh)).active, false, 'grants ended');
    assert.equal((await oidc.tokenIntrospection(b.wiki!.rp, b.wiki!.refresh)).active, false);
    const next = await first.go((await beginLogin(a.mail!.rp)).url.href);
    assert.equal(next.$('input[name=password]').length, 1, 'the session is gone');
  });

  it('disabling with the CLI (no server in the process that changes it): the same logout tokens, signed with the keys /jwks publishes', async () => {
    const erin = await addUser(server, 'erin', { totp: false });
    const signed = await signIn(new Browser(RP_CALLBACK), erin, ['mail', 'wiki']);
    const before = receiver.received.length;
    const r = await cli(['user', 'disable', 'erin']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'user erin disabled\n', 'the provider built for the logout tokens prints nothing');
    assert.equal(r.stderr, '');
    assert.deepEqual(logoutsSince(before, erin), [['mail', signed.mail!.sid], ['wiki', undefined]]);
    assert.equal((await oidc.tokenIntrospection(signed.mail!.rp, signed.mail!.refresh)).active, false);
    const again = await cli(['user', 'enable', 'erin']);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(receiver.received.length, before + 2, 'enabling ends nothing and notifies nobody');
  });

  it('deleting (API), taking the admin role (CLI) and an admin password reset (CLI and API) notify alike', async () => {
    const cases: [string, (u: User) => Promise<{ code?: number; status?: number; stderr?: string; body?: unknown }>][] = [
      ['delete through the API', (u) => api(server, 'DELETE', `/users/${u.id}`, { token })],
      ['admin role taken with the CLI', (u) => cli(['user', 'update', u.username, '--role', 'auditor'])],
      ['password set with the CLI (a real process, which must also end)', (u) => runCli(['user', 'password', u.username, '--password-stdin'], {
        DATABASE_URL: server.config.databaseUrl, STEPGATE_SECRET_KEYS: secretKey, ISSUER: server.issuer, STEPGATE_DATA_DIR: server.dir, STEPGATE_DEMO: '0',
      }, 'a new password for them')],
      ['password set through the API', (u) => api(server, 'POST', `/users/${u.id}/password`, { token, body: { password: 'a new password for them' } })],
    ];
    for (const [i, [what, run]] of cases.entries()) {
      const user = await addUser(server, `frank${i}`, { totp: false, roles: ['admin'] });
      const signed = await signIn(new Browser(RP_CALLBACK), user, ['mail']);
      const before = receiver.received.length;
      const r = await run(user);
      assert.ok(r.code === 0 || (r.status !== undefined && r.status < 300), `${what}: ${JSON.stringify(r)}`);
      assert.deepEqual(logoutsSince(before, user), [['mail', signed.mail!.sid]], what);
    }
  });

  it('sign-out everywhere (API, CLI, console): logout tokens, sessions and tokens end, the account stays usable', async () => {
    const boss = await addUser(server, 'boss', { roles: ['admin'] });
    const { browser: admin } = await consoleLogin(server, boss);
    const doors: [string, (u: User) => Promise<unknown>][] = [
      ['API', async (u) => assert.equal((await api(server, 'POST', `/users/${u.id}/sign-out`, { token })).status, 200)],
      ['CLI', async (u) => assert.equal((await cli(['user', 'sign-out', u.username])).stdout, `user ${u.username} signed out everywhere\n`)],
      ['console', async (u) => {
        const page = await admin.go(`${server.issuer}/admin/users/${u.id}/sign-out`);
        assert.match(page.$('h1').text(), /^Sign out /, 'the console asks first');
        const done = await admin.submit(page, {}, /\/sign-out$/);
        assert.ok(done.status < 400, `console sign-out: ${done.status}`);
      }],
    ];
    for (const [i, [door, signOut]] of doors.entries()) {
      const user = await addUser(server, `ines${i}`, { totp: false });
      const browser = new Browser(RP_CALLBACK);
      const signed = await signIn(browser, user, ['mail', 'wiki']);
      const before = receiver.received.length;
      await signOut(user);
      assert.deepEqual(logoutsSince(before, user), [['mail', signed.mail!.sid], ['wiki', undefined]], door);
      assert.equal((await oidc.tokenIntrospection(signed.mail!.rp, signed.mail!.refresh)).active, false, `${door}: grants end`);
      assert.equal((await signIn(browser, user, ['mail'])).mail!.sid !== signed.mail!.sid, true, `${door}: a new sign-in (password asked again) works`);
    }
  });

  it('a forgotten-password reset (link by mail) ends the sessions and notifies their applications', async () => {
    const gina = await addUser(server, 'gina', { totp: false });
    await server.stepgate.users.setEmail(gina.id, 'gina@example.org', true);
    const signed = await signIn(new Browser(RP_CALLBACK), gina, ['mail', 'wiki']);
    const before = receiver.received.length;

    const browser = new Browser();
    await browser.submit(await browser.go(`${server.issuer}/password/forgot`), { identifier: 'gina' });
    let page = await browser.go(linkIn(await smtp.take('gina@example.org', /Reset your password/), '/password/reset'));
    page = await browser.submit(page, { password: 'gina chose a new one', password2: 'gina chose a new one' });
    assert.match(page.$('h1').text(), /password was changed/);
    assert.deepEqual(logoutsSince(before, gina), [['mail', signed.mail!.sid], ['wiki', undefined]]);
  });

  it('/account "sign out other browsers": logout tokens for the other sessions only', async () => {
    const hugo = await addUser(server, 'hugo', { totp: false });
    const here = new Browser(RP_CALLBACK);
    const mine = await signIn(here, hugo, ['mail']);
    const elsewhere = await signIn(new Browser(RP_CALLBACK), hugo, ['mail', 'wiki']);
    const before = receiver.received.length;

    const account = await here.go(`${server.issuer}/account`);
    const done = await here.submit(account, {}, /\/account\/sessions\/end/);
    assert.ok(done.status < 400, `sign out other browsers: ${done.status}`);
    assert.deepEqual(logoutsSince(before, hugo), [['mail', elsewhere.mail!.sid], ['wiki', undefined]]);
    assert.notEqual(mine.mail!.sid, elsewhere.mail!.sid);
    assert.equal((await here.go((await beginLogin(mine.mail!.rp, { scope: 'openid offline_access' })).url.href)).location?.startsWith(RP_CALLBACK), true, 'this browser stays signed in');
  });
});
