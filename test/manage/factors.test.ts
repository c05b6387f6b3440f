import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startStepgate, type TestServer } from '../support/server.ts';
import { addUser } from '../support/fixtures.ts';
import { api, clientToken, consoleLogin } from '../support/admin.ts';
import { inProcessCli } from '../support/cli.ts';
import { startSmtp, type TestSmtp } from '../support/smtp.ts';
import type { Browser, Page } from '../support/browser.ts';
import { defaults } from '../../config/defaults.ts';

/**
 * A user's second factors as admins see and remove them (issue 12), and "set up a second
 * factor at the next login": the same manage operations through the CLI, the admin API and
 * the console; never a secret listed; every door audited alike; the last factor takes the
 * recovery codes with it; the user is told by mail.
 */
describe('manage: second factors of a user at every door', function () {
  this.timeout(60_000);
  let server: TestServer;
  let smtp: TestSmtp;
  let token: string;
  let console: { browser: Browser; page: Page };
  const secretKey = randomBytes(32).toString('base64');
  const cli = (args: string[]) => inProcessCli(server, secretKey)(args);
  const PASSKEY = { publicKey: 'pQECAyYgASFYIPUBLICKEYBYTES', counter: 0, transports: ['internal'], backedUp: false, userVerified: true };

  /** A user with a verified address, TOTP, a passkey and 10 recovery codes. */
  async function userWithFactors(name: string) {
    const user = await addUser(server, name);
    await server.stepgate.users.setEmail(user.id, `${name}@example.org`, true);
    await server.stepgate.credentials.addPasskey(user.id, { ...PASSKEY, credentialId: `cred-${name}`, label: `${name}'s key` });
    await server.stepgate.credentials.newRecoveryCodes(user.id);
    return user;
  }
  const left = async (id: string) => server.stepgate.credentials.recoveryLeft(id);
  const kinds = async (subject: string) => (await server.stepgate.db.select<{ kind: string; actor: string }>(
    "SELECT kind, actor FROM audit_events WHERE subject = :subject AND kind LIKE 'admin.user.%' ORDER BY id", { subject })).map((e) => `${e.kind} ${e.actor.split(':')[0]}`);

  before(async () => {
    smtp = await startSmtp();
    server = await startStepgate({ secretKey, overrides: { mail: { ...defaults.mail, smtpUrl: smtp.url } } });
    token = await clientToken(server, 'helpdesk', { adminApi: true });
    console = await consoleLogin(server, await addUser(server, 'root', { roles: ['admin'] }));
    assert.equal(console.page.status, 200);
  });
  after(async () => {
    await server?.stop();
    await smtp?.stop();
  });

  it('lists type, label, added and last used at every door, and never a secret', async () => {
    const fran = await userWithFactors('fran');
    const secrets = [fran.totpSecret, PASSKEY.publicKey];
    const r = await cli(['user', 'factors', 'fran', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const listed = r.json();
    assert.deepEqual(listed.factors.map((f: { type: string }) => f.type).sort(), ['passkey', 'totp']);
    assert.equal(listed.recovery_codes_left, 10);
    assert.ok(listed.factors.some((f: { label: string }) => f.label === "fran's key"));
    assert.match(listed.factors[0].created, /^\d{4}-\d\d-\d\dT/);
    assert.equal(listed.factors[0].last_used, null);
    assert.deepEqual(Object.keys(listed.factors[0]).sort(), ['created', 'id', 'label', 'last_used', 'type']);

    const human = await cli(['user', 'factors', 'fran']);
    assert.match(human.stdout, /passkey\tfran's key/);
    assert.match(human.stdout, /recovery codes left: 10/);
    const show = await cli(['user', 'show', 'fran', '--json']);
    assert.deepEqual(show.json().factors, listed.factors, 'user show --json lists the factors too');

    const viaApi = await api(server, 'GET', `/users/${fran.id}/factors`, { token });
    assert.equal(viaApi.status, 200);
    assert.deepEqual(viaApi.body, listed);

    const page = await console.browser.go(`${server.issuer}/admin/users/${fran.id}`);
    assert.equal(page.status, 200);
    assert.deepEqual(page.$('#factors tr[data-factor]').toArray().map((tr) => page.$(tr).attr('data-factor')), listed.factors.map((f: { id: string }) => f.id));
    assert.match(page.$('#factors').text(), /10 recovery codes left/);
    for (const out of [r.stdout, human.stdout, show.stdout, JSON.stringify(viaApi.body), page.html]) {
      for (const secret of secrets) assert.ok(!out.includes(secret), 'no secret is listed');
    }
  });

  it('removes one factor through the API, the CLI and the console: audited alike, the owner mailed, the codes gone with the last', async () => {
    const gus = await userWithFactors('gus');
    const listed = (await api(server, 'GET', `/users/${gus.id}/factors`, { token })).body.factors as { id: string; type: string }[];
    const [totp, passkey] = [listed.find((f) => f.type === 'totp')!, listed.find((f) => f.type === 'passkey')!];

    const viaApi = await api(server, 'DELETE', `/users/${gus.id}/factors/${passkey.id}`, { token });
    assert.equal(viaApi.status, 200, JSON.stringify(viaApi.body));
    assert.equal(viaApi.body.removed.id, passkey.id);
    assert.equal(viaApi.body.recovery_codes_removed, 0);
    assert.equal(await left(gus.id), 10, 'another factor remains: the codes stay');
    const mail = await smtp.take('gus@example.org', /sign-in method was removed/);
    assert.match(mail.text, /passkey "gus's key", by an administrator/);

    const viaCli = await cli(['user', 'factor-remove', 'gus', totp.id]);
    assert.equal(viaCli.code, 0, viaCli.stderr);
    assert.match(viaCli.stdout, /last second factor, so its 10 recovery codes were removed too/);
    assert.equal(await left(gus.id), 0);
    assert.deepEqual((await api(server, 'GET', `/users/${gus.id}/factors`, { token })).body, { factors: [], recovery_codes_left: 0 });

    const hal = await userWithFactors('hal');
    await server.stepgate.credentials.removeSecondFactor(hal.id, (await server.stepgate.credentials.list(hal.id)).find((c) => c.type === 'totp')!.id);
    const page = await console.browser.go(`${server.issuer}/admin/users/${hal.id}`);
    // "Remove…" asks first (what follows, Confirm and Cancel); the confirmation removes it.
    const confirm = await console.browser.go(`${server.issuer}${page.$('a[href$="/remove"]').attr('href')}`);
    assert.match(confirm.$('h1').text(), /Remove the passkey "hal's key" of hal\?/);
    const done = await console.browser.submit(confirm, {}, /\/factors\/[^/]+\/remove$/);
    assert.equal(done.status, 200, done.html.slice(0, 500));
    assert.match(done.$('.message').text(), /passkey "hal's key" of hal was removed.*10 recovery codes left were removed too/);
    assert.deepEqual(await server.stepgate.credentials.list(hal.id), []);
    assert.equal(await left(hal.id), 0);
    await smtp.take('hal@example.org', /sign-in method was removed/);

    assert.deepEqual(await kinds(gus.id), ['admin.user.factor_removed api', 'admin.user.factor_removed cli']);
    assert.deepEqual(await kinds(hal.id), ['admin.user.factor_removed user']);
    const [event] = await server.stepgate.audit.list({ kind: 'admin.user.factor_removed', subject: hal.id });
    assert.equal((event!.details as { recovery_codes_removed: number }).recovery_codes_removed, 10);
  });

  it('bad input: an unknown user or factor, or another user\'s factor, is a 404 (or exit 2) and changes nothing', async () => {
    const ida = await userWithFactors('ida');
    const jon = await userWithFactors('jon');
    const jonsFactor = (await server.stepgate.credentials.list(jon.id))[0]!.id;
    const count = async () => (await server.stepgate.db.select('SELECT id FROM credentials', {})).length;
    const before = await count();
    for (const [path, what] of [[`/users/${ida.id}/factors/${jonsFactor}`, /no second factor of ida/], [`/users/${ida.id}/factors/${'x'.repeat(300)}`, /no second factor/], [`/users/nobody/factors/${jonsFactor}`, /no user "nobody"/]] as const) {
      const res = await api(server, 'DELETE', path, { token });
      assert.equal(res.status, 404, JSON.stringify(res.body));
      assert.match(res.body.error_description, what);
    }
    assert.equal((await api(server, 'GET', '/users/nobody/factors', { token })).status, 404);
    const r = await cli(['user', 'factor-remove', 'ida', jonsFactor]);
    assert.equal(r.code, 2);
    assert.equal(r.stderr.trim().split('\n').length, 1);
    assert.equal((await cli(['user', 'factor-remove', 'ida'])).code, 2, 'the factor id is required');
    const refused = await console.browser.request(`${server.issuer}/admin/users/${ida.id}/factors/${jonsFactor}/remove`, { form: { _csrf: console.page.$('input[name=_csrf]').attr('value') ?? '' } });
    assert.equal(refused.status, 404);
    assert.equal(await count(), before, 'nothing was removed');
    assert.deepEqual(await kinds(ida.id), []);
    assert.equal((await api(server, 'GET', `/users/${ida.id}/factors`, { token: undefined })).status, 401, 'no token, no list');
  });

  it('requires enrolment at the next login through every door; refused (409) for an account that has a second factor', async () => {
    const kim = await addUser(server, 'kim', { totp: false });
    const viaApi = await api(server, 'POST', `/users/${kim.id}/require-enrolment`, { token, body: {} });
    assert.equal(viaApi.status, 200, JSON.stringify(viaApi.body));
    assert.equal(viaApi.body.user.enrolment_required, true);
    assert.equal((await server.stepgate.users.byId(kim.id))!.enrolmentRequired, true);

    const off = await cli(['user', 'require-enrolment', 'kim', '--no-required', '--json']);
    assert.equal(off.code, 0, off.stderr);
    assert.equal(off.json().enrolment_required, false);
    assert.equal((await server.stepgate.users.byId(kim.id))!.enrolmentRequired, false);

    const page = await console.browser.go(`${server.issuer}/admin/users/${kim.id}`);
    const back = await console.browser.submit(page, {}, /require-enrolment$/);
    assert.equal(back.status, 200);
    assert.match(back.$('.facts').text(), /must set up a second factor at the next sign-in/);
    assert.equal((await server.stepgate.users.byId(kim.id))!.enrolmentRequired, true);
    assert.deepEqual(await kinds(kim.id), ['admin.user.enrolment_required api', 'admin.user.enrolment_not_required cli', 'admin.user.enrolment_required user']);

    const lou = await addUser(server, 'lou');
    const refused = await api(server, 'POST', `/users/${lou.id}/require-enrolment`, { token, body: { required: true } });
    assert.equal(refused.status, 409);
    assert.match(refused.body.error_description, /already has a second factor; remove it first/);
    assert.equal((await cli(['user', 'require-enrolment', 'lou'])).code, 2);
    assert.equal((await server.stepgate.users.byId(lou.id))!.enrolmentRequired, false);
    const bad = await api(server, 'POST', `/users/${kim.id}/require-enrolment`, { token, body: { required: 'yes' } });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.issues[0].path, 'required');
  });

  it('the console shows a reset TOTP secret as a QR image drawn on the server, besides the text; it meets a pending enrolment requirement', async () => {
    const max = await addUser(server, 'max', { totp: false });
    await api(server, 'POST', `/users/${max.id}/require-enrolment`, { token, body: {} });
    const page = await console.browser.go(`${server.issuer}/admin/users/${max.id}/totp`);
    const shown = await console.browser.submit(page, {}, /\/totp$/);
    assert.equal(shown.status, 200);
    const secret = shown.$('pre.secret').first().text();
    assert.equal((await server.stepgate.credentials.totp(max.id))!.secret, secret);
    const svg = shown.$('figure.qr svg');
    assert.equal(svg.length, 1, 'an inline SVG, no external image');
    assert.ok(svg.find('path').length > 0);
    assert.equal(shown.$('img').length, 0);
    assert.match(shown.$('pre.cmd').last().text(), new RegExp(`^otpauth://totp/.*secret=${secret}`));
    assert.equal((await server.stepgate.users.byId(max.id))!.enrolmentRequired, false, 'the TOTP an admin set up meets the requirement');
  });
});
