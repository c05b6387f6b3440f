import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { userInfo } from 'node:os';
import { startStepgate, type TestServer } from '../support/server.ts';
import { addUser, RP_CALLBACK, PASSWORD } from '../support/fixtures.ts';
import { api, clientToken, consoleLogin, adminSnapshot } from '../support/admin.ts';
import type { Browser, Page } from '../support/browser.ts';
import { KEYS } from '../token-api/saml-assertions.ts';
import { inProcessCli } from '../support/cli.ts';

/**
 * The regressions of issue 10: three doors (CLI, admin API, console) wrote the same tables
 * by three sets of rules. Now each goes through server/manage: same rules, same audit.
 * The CLI runs in-process here (its real entry point, on the broker's database);
 * test/cli/cli.test.ts runs it as a separate process.
 */
describe('management: the same rules and audit through the CLI, the API and the console', function () {
  this.timeout(120_000);
  let server: TestServer;
  let token: string;
  let boss: Awaited<ReturnType<typeof addUser>>;
  const secretKey = randomBytes(32).toString('base64');
  const me = `cli:${userInfo().username}`;

  before(async () => {
    server = await startStepgate({ secretKey });
    token = await clientToken(server, 'automation', { adminApi: true });
    boss = await addUser(server, 'boss', { roles: ['admin'] });
  });
  after(async () => server?.stop());

  const cli = (args: string[], stdin?: string) => inProcessCli(server, secretKey)(args, stdin);

  /** A CLI refusal: exit 2, one line on stderr matching `message`, nothing written. */
  async function cliRefused(args: string[], message: RegExp, stdin?: string) {
    const before = await adminSnapshot(server);
    const r = await cli(args, stdin);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, message);
    assert.deepEqual(await adminSnapshot(server), before, 'nothing written');
  }

  it('the CLI refuses a one-factor chain for the console client, as the API does', async () => {
    await cliRefused(['client', 'chain', 'stepgate-admin', 'password'], /two different factors/);
    await cliRefused(['client', 'update', 'stepgate-admin', '--chain', 'password,totp|password'], /two different factors/);
    const res = await api(server, 'PATCH', '/clients/stepgate-admin', { token, body: { chain: 'password' } });
    assert.equal(res.status, 400);
    assert.equal((await server.stepgate.clients.get('stepgate-admin'))!.chain, 'password,totp');
  });

  it('the CLI refuses the password grant on an admin_api client whose chain is one factor, so no password-only token opens the admin API', async () => {
    const added = await cli(['client', 'add', 'ops-bot', '--grants', 'client_credentials', '--admin-api', '--chain', 'password', '--json']);
    assert.equal(added.code, 0, added.stderr);
    const { client_secret: secret } = added.json();
    assert.match(secret, /^[A-Za-z0-9_-]{43}$/, 'a generated secret, shown once, in characters curl -u passes as they are');
    await cliRefused(['client', 'update', 'ops-bot', '--grants', 'client_credentials,password'], /admin API.*two different factors/);
    await cliRefused(['client', 'update', 'ops-bot', '--grants', 'client_credentials,saml2-bearer'], /admin API cannot exchange SAML assertions/);
    const res = await fetch(`${server.issuer}/token`, {
      method: 'POST', headers: { authorization: `Basic ${Buffer.from(`ops-bot:${secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'password', username: 'boss', password: PASSWORD, scope: 'admin' }),
    });
    const body = await res.json() as { error: string; error_description: string };
    assert.equal(res.status, 400);
    assert.match(body.error_description, /grant type is not allowed for this client/);
  });

  it('audits every CLI change with the actor cli:<os user>', async () => {
    assert.equal((await cli(['user', 'add', 'carol', '--password-stdin'], PASSWORD)).code, 0);
    assert.equal((await cli(['client', 'add', 'cli-web', '--redirect-uri', RP_CALLBACK, '--chain', 'password,totp'])).code, 0);
    assert.equal((await cli(['client', 'chain', 'cli-web', 'password'])).code, 0);
    assert.equal((await cli(['totp', 'enroll', 'carol', '--json'])).code, 0);
    const idp = await cli(['idp', 'add', 'gg', '--preset', 'google', '--client-id', 'g', '--client-secret-stdin', '--json'], 'g-secret');
    assert.equal(idp.code, 0, idp.stderr);
    assert.equal(idp.json().redirect_uri, `${server.issuer}/federation/gg/callback`, 'the issuer (and port) of the broker, from the same config');
    const events = await server.stepgate.audit.list({ actor: me });
    assert.deepEqual(events.map((e) => e.kind).reverse(), ['admin.client.created', 'admin.user.created', 'admin.client.created', 'admin.client.updated', 'admin.user.totp_reset', 'admin.idp.created']);
    assert.ok(!JSON.stringify(events).includes('g-secret') && !JSON.stringify(events).includes(PASSWORD), 'no secret in the audit log');
  });

  /** What a browser would send for the form: checked boxes only, textareas, selected options. */
  async function post(browser: Browser, page: Page, action: RegExp, change: Record<string, string>) {
    const form = page.$('form').toArray().find((f) => action.test(page.$(f).attr('action') ?? ''))!;
    const data = new URLSearchParams();
    page.$(form).find('input, textarea, select').each((_, el) => {
      const e = page.$(el);
      const name = e.attr('name');
      if (!name || name in change) return;
      if (e.is('[type=checkbox]') && e.attr('checked') === undefined) return;
      data.append(name, e.is('textarea') ? e.text() : e.is('select') ? (e.find('option[selected]').attr('value') ?? '') : (e.attr('value') ?? 'on'));
    });
    for (const [k, v] of Object.entries(change)) data.append(k, v);
    const url = new URL(page.$(form).attr('action')!, page.url).href;
    return fetch(url, { method: 'POST', redirect: 'manual', headers: { cookie: await browser.jar.getCookieString(url), 'content-type': 'application/x-www-form-urlencoded' }, body: data });
  }

  it('the console keeps the password and saml2-bearer grants, scopes and SAML IdPs when only the name is edited', async () => {
    assert.equal((await api(server, 'POST', '/saml-idps', { token, body: { name: 'partner', issuer: 'https://partner.example/saml', certificate: KEYS.idp.cert } })).status, 201);
    const created = await api(server, 'POST', '/clients', {
      token, body: { client_id: 'wso2-app', grant_types: ['password', 'saml2-bearer', 'refresh_token'], chain: 'password,totp', scopes: ['read'], saml_idps: ['partner'], app_token_format: 'jwt' },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const { browser } = await consoleLogin(server, boss);
    const edit = await browser.go(`${server.issuer}/admin/clients/wso2-app/edit`);
    const res = await post(browser, edit, /\/edit$/, { name: 'WSO2 app' });
    assert.equal(res.status, 303, await res.text());
    const after = (await api(server, 'GET', '/clients/wso2-app', { token })).body;
    assert.equal(after.name, 'WSO2 app');
    assert.deepEqual(after.grant_types.sort(), ['password', 'refresh_token', 'urn:ietf:params:oauth:grant-type:saml2-bearer']);
    assert.deepEqual([after.scopes, after.saml_idps, after.app_token_format], [['read'], ['partner'], 'jwt']);
  });

  it('the API sets what it could not: user grants, API scopes, token format, SAML IdPs, never-expiring lifetimes, ID token algorithm, roles, user deletion', async () => {
    const res = await api(server, 'PATCH', '/clients/cli-web', {
      token, body: { grant_types: ['authorization_code', 'refresh_token'], scopes: ['read', 'update'], user_token_ttl: -1, allow_non_expiring: true, id_token_signed_response_alg: 'ES256', post_logout_redirect_uris: ['https://app.example/bye'] },
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual([res.body.client.user_token_ttl, res.body.client.id_token_signed_response_alg, res.body.client.scopes], [-1, 'ES256', ['read', 'update']]);
    const refused = await api(server, 'PATCH', '/clients/cli-web', { token, body: { allow_non_expiring: false } });
    assert.equal(refused.status, 400);
    assert.match(refused.body.error_description, /never expires/);
    assert.equal((await api(server, 'PATCH', '/clients/cli-web', { token, body: { saml_idps: ['nobody'] } })).status, 400);

    const carol = (await api(server, 'GET', '/users/carol', { token })).body;
    const promoted = await api(server, 'PATCH', `/users/${carol.id}`, { token, body: { roles: ['admin', 'ops'] } });
    assert.deepEqual(promoted.body.user.roles, ['admin', 'ops']);
    assert.deepEqual((await api(server, 'GET', '/users?role=ops', { token })).body.map((u: { username: string }) => u.username), ['carol']);
    assert.equal((await api(server, 'DELETE', `/users/${carol.id}`, { token })).status, 204);
    assert.equal((await api(server, 'GET', `/users/${carol.id}`, { token })).status, 404);
    const [deleted] = await server.stepgate.audit.list({ kind: 'admin.user.deleted' });
    assert.equal(deleted!.actor, 'api:automation');
  });

  it('the CLI does what it could not: post-logout URIs, show, disable/enable, password reset, secret rotation, identities, audit', async () => {
    const updated = await cli(['client', 'update', 'cli-web', '--post-logout-redirect-uri', 'https://app.example/bye', '--post-logout-redirect-uri', 'https://app.example/later', '--json']);
    assert.equal(updated.code, 0, updated.stderr);
    assert.deepEqual(updated.json().post_logout_redirect_uris, ['https://app.example/bye', 'https://app.example/later']);
    assert.equal((await cli(['client', 'show', 'cli-web', '--json'])).json().client_id, 'cli-web');
    const rotated = await cli(['client', 'secret', 'cli-web', '--json']);
    assert.equal((await server.stepgate.clients.get('cli-web'))!.secret, rotated.json().client_secret);

    await addUser(server, 'dave');
    assert.equal((await cli(['user', 'disable', 'dave', '--json'])).json().disabled, true);
    assert.equal((await cli(['user', 'show', 'dave', '--json'])).json().disabled, true);
    assert.equal((await cli(['user', 'enable', 'dave', '--json'])).json().disabled, false);
    const reset = await cli(['user', 'password', 'dave', '--json']);
    assert.ok(await server.stepgate.passwords.verify((await server.stepgate.users.byUsername('dave'))!.passwordHash!, reset.json().password));
    assert.equal((await cli(['user', 'link', 'dave', 'gg', 'sub-dave'])).code, 0);
    assert.deepEqual((await cli(['user', 'identities', 'dave', '--json'])).json().map((i: { subject: string }) => i.subject), ['sub-dave']);
    const audit = await cli(['audit', '--kind', 'admin.user', '--since', '1h', '--json']);
    assert.ok(audit.json().events.some((e: { kind: string; actor: string }) => e.kind === 'admin.user.password_reset' && e.actor === me));
    await cliRefused(['audit', '--since', 'yesterday'], /--since: is a duration like 30m/);
  });

  it('one change through each door: the same kind and before/after, a different actor', async () => {
    const erin = await addUser(server, 'erin');
    assert.equal((await cli(['user', 'disable', 'erin'])).code, 0);
    await server.stepgate.users.update(erin.id, { disabled: false });
    assert.equal((await api(server, 'POST', `/users/${erin.id}/disable`, { token })).status, 200);
    await server.stepgate.users.update(erin.id, { disabled: false });
    const { browser } = await consoleLogin(server, await addUser(server, 'boss2', { roles: ['admin'] }));
    const page = await browser.go(`${server.issuer}/admin/users/${erin.id}/disable`);
    assert.equal((await post(browser, page, /\/disable$/, {})).status, 303);
    const events = (await server.stepgate.audit.list({ kind: 'admin.user.disabled' })).filter((e) => e.subject === erin.id).reverse();
    assert.equal(events.length, 3);
    assert.deepEqual(events.map((e) => e.actor), [me, 'api:automation', `user:${(await server.stepgate.users.byUsername('boss2'))!.id}`]);
    for (const e of events) assert.deepEqual(e.details, events[0]!.details);
  });

  it('an admin vouches for an address at each door; a changed address is unverified again, and nothing vouches for no address', async () => {
    const gil = await addUser(server, 'gil');
    const verified = async () => (await server.stepgate.users.byId(gil.id))!.emailVerified;
    // the CLI
    assert.equal((await cli(['user', 'update', 'gil', '--email', 'gil@example.org', '--email-verified'])).code, 0);
    assert.equal(await verified(), true);
    await cliRefused(['user', 'update', 'gil', '--email-verified', '--email-unverified'], /choose one of --email-verified and --email-unverified/);
    // the API: a new address without the flag is unverified; the flag alone vouches for it
    assert.equal((await api(server, 'PATCH', `/users/${gil.id}`, { token, body: { email: 'gil@example.net' } })).status, 200);
    assert.equal(await verified(), false, 'a changed address needs confirming again');
    const vouched = await api(server, 'PATCH', `/users/${gil.id}`, { token, body: { email_verified: true } });
    assert.equal(vouched.status, 200);
    assert.equal(vouched.body.user.email_verified, true);
    // the console: unticking the box takes it back; ticked with a changed address, the new one stays unverified
    const { browser } = await consoleLogin(server, await addUser(server, 'boss3', { roles: ['admin'] }));
    let page = await browser.go(`${server.issuer}/admin/users/${gil.id}`);
    assert.equal(page.$('input[name=email_verified]').attr('checked'), 'checked');
    assert.equal((await post(browser, page, /\/edit$/, { email_verified: '' })).status, 303);
    assert.equal(await verified(), false);
    page = await browser.go(`${server.issuer}/admin/users/${gil.id}`);
    assert.equal((await post(browser, page, /\/edit$/, { email_verified: 'yes' })).status, 303);
    assert.equal(await verified(), true);
    page = await browser.go(`${server.issuer}/admin/users/${gil.id}`);
    assert.equal((await post(browser, page, /\/edit$/, { email: 'gil@example.com', email_verified: 'yes' })).status, 303);
    assert.equal(await verified(), false, 'the box vouched for the address the page showed, not a new one');
    // nothing to vouch for
    await server.stepgate.users.update(gil.id, { email: null });
    const none = await api(server, 'PATCH', `/users/${gil.id}`, { token, body: { email_verified: true } });
    assert.equal(none.status, 400);
    assert.match(JSON.stringify(none.body), /needs an email address/);
    const actors = (await server.stepgate.audit.list({ kind: 'admin.user.updated' })).filter((e) => e.subject === gil.id).map((e) => e.actor);
    assert.ok(actors.includes(me) && actors.includes('api:automation') && actors.some((a) => a?.startsWith('user:')), 'every door audited');
  });
});
