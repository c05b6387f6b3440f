import assert from 'node:assert/strict';
import { startStepgate, type TestServer } from '../support/server.ts';
import { addUser } from '../support/fixtures.ts';
import { adminSnapshot, api, consoleLogin, eventually } from '../support/admin.ts';
import { Browser } from '../support/browser.ts';

describe('admin console (no JavaScript)', function () {
  this.timeout(30_000);
  let server: TestServer;
  let boss: Awaited<ReturnType<typeof addUser>>;

  before(async () => {
    server = await startStepgate();
    boss = await addUser(server, 'boss', { roles: ['admin'] });
  });
  after(async () => server.stop());

  /** A fresh admin per sign-in: a TOTP code counts once per account, so each login needs its own. */
  let admins = 0;
  const freshAdmin = () => addUser(server, `admin${++admins}`, { roles: ['admin'] });

  it('sends a visitor without a session to sign in through the broker, with the console client and PKCE', async () => {
    const res = await fetch(`${server.issuer}/admin/users`, { redirect: 'manual' });
    assert.equal(res.status, 302);
    assert.equal(res.headers.get('location'), '/admin/login');
    const login = await fetch(`${server.issuer}/admin/login`, { redirect: 'manual' });
    const authorize = new URL(login.headers.get('location')!);
    assert.equal(authorize.pathname, '/authorize');
    assert.equal(authorize.searchParams.get('client_id'), 'stepgate-admin');
    assert.equal(authorize.searchParams.get('code_challenge_method'), 'S256');
    assert.equal((await server.stepgate.clients.get('stepgate-admin'))!.chain, 'password,totp');
  });

  it('refuses a non-admin with a valid login: 403 page, no console session, API refused too', async () => {
    const clerk = await addUser(server, 'clerk');
    const { browser, page } = await consoleLogin(server, clerk);
    assert.equal(page.status, 403);
    assert.match(page.$('h1').text(), /Not an administrator/);
    assert.match(page.html, /clerk/);
    const cookies = await browser.jar.getCookies(`${server.issuer}/admin/`);
    assert.ok(!cookies.some((c) => c.key === 'stepgate.admin'), 'no console session');
    const again = await browser.request(`${server.issuer}/admin/clients`);
    assert.equal(again.status, 302, 'still sent to sign in');
    const apiRes = await browser.request(`${server.issuer}/admin/api/users`, { headers: { accept: 'application/json' } });
    assert.equal(apiRes.status, 401);
    const refusedEvent = (await eventually(() => server.stepgate.audit.list({ kind: 'admin.login.refused' }), (e) => e.length > 0))[0];
    assert.equal(refusedEvent?.subject, clerk.id);
  });

  it('lets an admin in after password + TOTP; the cookie holds no token; a revoked role takes effect at once', async () => {
    const { browser, page } = await consoleLogin(server, boss, { totpOffset: 1 });
    assert.equal(page.status, 200, page.html.slice(0, 500));
    assert.match(page.$('h1').text(), /Overview/, 'the console opens on its overview');
    const cookie = (await browser.jar.getCookies(`${server.issuer}/admin/`)).find((c) => c.key === 'stepgate.admin')!;
    assert.ok(cookie.httpOnly);
    assert.equal(cookie.sameSite, 'lax');
    assert.ok(cookie.value.length < 60 && !cookie.value.includes('.'), 'a random id, not a token');
    const json = await browser.request(`${server.issuer}/admin/api/clients`, { headers: { accept: 'application/json' } });
    assert.equal(json.status, 200, 'the API accepts the console session');

    await server.stepgate.db.change('UPDATE users SET roles = :r WHERE id = :id', { r: '[]', id: boss.id });
    try {
      assert.equal((await browser.request(`${server.issuer}/admin/clients`)).status, 403);
      assert.equal((await browser.request(`${server.issuer}/admin/api/clients`, { headers: { accept: 'application/json' } })).status, 403);
    } finally {
      await server.stepgate.db.change('UPDATE users SET roles = :r WHERE id = :id', { r: '["admin"]', id: boss.id });
    }
  });

  it('refuses console changes without the CSRF token (forms and API), and accepts them with it', async () => {
    const { browser } = await consoleLogin(server, await freshAdmin());
    const users = await browser.request(`${server.issuer}/admin/users`);
    const csrf = users.$('input[name=_csrf]').first().attr('value')!;
    const count = async () => (await server.stepgate.users.list()).length;
    const before = await count();
    const noToken = await browser.request(`${server.issuer}/admin/users`, { form: { username: 'csrf-victim', password: 'long enough pass' } });
    assert.equal(noToken.status, 403);
    const wrong = await browser.request(`${server.issuer}/admin/users`, { form: { _csrf: 'x'.repeat(csrf.length), username: 'csrf-victim', password: 'long enough pass' } });
    assert.equal(wrong.status, 403);
    const apiNoHeader = await browser.request(`${server.issuer}/admin/api/users/${boss.id}/unlock`, { method: 'POST', headers: { accept: 'application/json' } });
    assert.equal(apiNoHeader.status, 403);
    assert.match(apiNoHeader.html, /X-CSRF-Token/);
    assert.equal(await count(), before);

    const ok = await browser.request(`${server.issuer}/admin/users`, { form: { _csrf: csrf, username: 'Hank', password: 'long enough pass', totp: 'on' } });
    assert.equal(ok.status, 201);
    assert.match(ok.html, /shown <strong>only now<\/strong>/);
    assert.equal(await count(), before + 1);
    const apiWithHeader = await browser.request(`${server.issuer}/admin/api/users/${boss.id}/unlock`, { method: 'POST', headers: { accept: 'application/json', 'x-csrf-token': csrf } });
    assert.equal(apiWithHeader.status, 200);
  });

  it('shows validation errors on the client form with the field and the reason, and writes nothing', async () => {
    const { browser } = await consoleLogin(server, await freshAdmin());
    const form = await browser.request(`${server.issuer}/admin/clients/new`);
    const before = (await server.stepgate.clients.list()).length;
    const res = await browser.submit(form, { client_id: 'bad-app', redirect_uris: 'not a url', chain: 'password,unknown' }, /clients\/new$/);
    assert.equal(res.status, 400);
    const issues = res.$('.error li').text();
    assert.match(issues, /redirect_uris\.0.*not an absolute URL/s);
    assert.match(issues, /chain.*unknown authenticator "unknown"/s);
    assert.equal(res.$('input[name=client_id]').attr('value'), 'bad-app', 'what was typed is kept');
    assert.equal((await server.stepgate.clients.list()).length, before);
    // The no-JS test browser would send unchecked checkboxes too; post what a real browser sends.
    const created = await browser.request(`${server.issuer}/admin/clients/new`, { form: {
      _csrf: res.$('input[name=_csrf]').attr('value')!, client_id: 'good-app', redirect_uris: 'https://good.example/cb', chain: 'password', grant_types: 'authorization_code',
    } });
    assert.equal(created.status, 201, created.$('.error').text());
    assert.equal((await api(server, 'GET', '/clients/good-app')).status, 401, 'sanity: API without auth');
    assert.ok(await server.stepgate.clients.get('good-app'));
  });

  it('edits a chain step by step with plain buttons, describing it in plain words', async () => {
    const { browser } = await consoleLogin(server, await freshAdmin());
    await server.stepgate.clients.create({ clientId: 'edit-me', secret: 'edit-me-secret-0123456789', redirectUris: ['https://e.example/cb'], grantTypes: ['authorization_code'], chain: 'password', settings: {} });
    const url = `${server.issuer}/admin/clients/edit-me/chain`;
    let page = await browser.request(url);
    assert.equal(page.$('#chain-description').text(), 'Step 1: Password.');
    const press = async (value: string, fields: Record<string, string> = {}) => {
      const res = await browser.submit(page, fields, /\/chain$/, { name: 'edit', value });
      page = res.status === 200 ? res : page;
      return res;
    };
    assert.equal(page.$('button[value="remove-step:0"]').is('[disabled]'), true, 'a chain needs a step: its only one cannot go');
    assert.equal(page.$('#new-option-0 option[value=totp]').length, 0, 'TOTP is never offered for the first step');
    await press('add-step', { 'new-step': 'totp' });
    assert.equal(page.$('#chain-description').text(), 'Step 1: Password. Step 2: Authenticator app (TOTP).');
    // The editor offers only edits the broker accepts: TOTP cannot move before the password.
    assert.equal(page.$('button[value="move-step:1:-1"]').is('[disabled]'), true);
    assert.equal(page.$('button[value="move-step:0:1"]').is('[disabled]'), true);
    assert.equal(page.$('button[value="remove-step:1"]').is('[disabled]'), false);
    assert.equal(page.$('#new-step option[value=totp]').length, 1, 'TOTP can be added as a later step');
    await press('add-option:1', { 'new-option-1': 'password' });
    assert.equal(page.$('#chain-description').text(), 'Step 1: Password. Step 2: Authenticator app (TOTP) or Password.');
    await press('move-option:1:1:-1');
    assert.equal((await server.stepgate.clients.get('edit-me'))!.chain, 'password,password|totp');
    const refusedMove = await press('move-step:1:-1');
    assert.equal(refusedMove.status, 400, 'TOTP cannot come first');
    assert.match(refusedMove.$('.error').text(), /cannot be in the first step/);
    await press('remove-option:1:0');
    assert.equal((await server.stepgate.clients.get('edit-me'))!.chain, 'password,totp');
    await press('remove-step:1');
    assert.equal((await server.stepgate.clients.get('edit-me'))!.chain, 'password');

    // Deleting asks first: a post without the confirmation only shows the question.
    const detail = await browser.request(`${server.issuer}/admin/clients/edit-me`);
    const csrf = detail.$('input[name=_csrf]').first().attr('value')!;
    const unconfirmed = await browser.request(`${server.issuer}/admin/clients/edit-me/delete`, { form: { _csrf: csrf } });
    assert.equal(unconfirmed.status, 200);
    assert.equal(unconfirmed.$('h1').text(), 'Delete client edit-me?');
    assert.ok(await server.stepgate.clients.get('edit-me'));

    // An edit made from a page drawn before someone else's change is refused.
    const stale = page;
    await server.stepgate.clients.update('edit-me', { chain: 'password,totp' });
    const conflict = await browser.submit(stale, { 'new-step': 'totp' }, /\/chain$/, { name: 'edit', value: 'add-step' });
    assert.equal(conflict.status, 409);
    assert.equal((await server.stepgate.clients.get('edit-me'))!.chain, 'password,totp');
  });

  it('manages users: disable, reset TOTP (secret shown once), unlock; the audit page filters', async () => {
    const { browser } = await consoleLogin(server, await freshAdmin());
    const ivy = await addUser(server, 'ivy');
    let page = await browser.request(`${server.issuer}/admin/users/${ivy.id}`);
    page = await browser.submit(await browser.request(`${server.issuer}${page.$('a[href$="/disable"]').attr('href')}`), {}, /disable$/);
    assert.equal((await server.stepgate.users.byId(ivy.id))!.disabled, true);
    assert.match(page.html, /Enable account/);
    const totp = await browser.submit(await browser.request(`${server.issuer}/admin/users/${ivy.id}/totp`), {}, /totp$/);
    const shown = totp.$('pre.secret').first().text();
    assert.equal((await server.stepgate.credentials.totp(ivy.id))!.secret, shown);
    const me = page.$('.who strong').text();
    const audit = await browser.request(`${server.issuer}/admin/audit?kind=admin.user&actor=${me}`);
    assert.equal(audit.status, 200);
    const kinds = audit.$('table.audit > tbody > tr > td:nth-child(2)').map((_, el) => audit.$(el).text()).get();
    assert.ok(kinds.includes('admin.user.totp_reset') && kinds.includes('admin.user.disabled'));
    assert.ok(kinds.every((k) => k.startsWith('admin.user')));
    assert.ok(!audit.html.includes(shown), 'the TOTP secret is not in the log');
    const none = await browser.request(`${server.issuer}/admin/audit?actor=nobody`);
    assert.match(none.html, /No events match/);
  });

  it('every destructive action asks first (what follows, Confirm and Cancel) and changes nothing until confirmed', async () => {
    const { browser } = await consoleLogin(server, await freshAdmin());
    const victim = await addUser(server, 'victim');
    await server.stepgate.clients.create({ clientId: 'doomed', secret: 'doomed-secret-0123456789', redirectUris: ['https://d.example/cb'], grantTypes: ['authorization_code'], chain: 'password', settings: { name: 'Doomed App' } });
    await server.stepgate.idps.add({ name: 'gone', issuer: 'https://gone.example', clientId: 'g', clientSecret: 'g-secret', scopes: ['openid'], displayName: 'Gone', claimMapping: {}, jit: false });
    await server.stepgate.links.link({ idpName: 'gone', issuer: 'https://gone.example', subject: 'v-at-gone' }, victim.id);
    const [key] = await server.stepgate.signingKeys.list();
    const user = `/admin/users/${victim.id}`;
    const questions: [string, RegExp, string][] = [
      ['/admin/clients/doomed/delete', /^Delete client doomed\?$/, '/admin/clients/doomed'],
      ['/admin/clients/doomed/secret', /^Issue a new secret for doomed\?$/, '/admin/clients/doomed'],
      ['/admin/identity-providers/gone/delete', /^Delete identity provider gone\?$/, '/admin/identity-providers/gone'],
      [`${user}/delete`, /^Delete victim\?$/, user],
      [`${user}/disable`, /^Disable victim\?$/, user],
      [`${user}/totp`, /^Reset the TOTP of victim\?$/, user],
      [`${user}/recovery-codes`, /^Issue new recovery codes for victim\?$/, user],
      [`${user}/password`, /^Reset the password of victim\?$/, user],
      [`${user}/identities/unlink?idp=gone&subject=v-at-gone`, /^Unlink gone identity v-at-gone from victim\?$/, `${user}#identities`],
      [`/admin/keys/${encodeURIComponent(key!.kid)}/retire`, /^Retire signing key .+\?$/, '/admin/keys'],
    ];
    const before = await adminSnapshot(server);
    const totpBefore = (await server.stepgate.credentials.totp(victim.id))!.secret;
    for (const [path, question, back] of questions) {
      const page = await browser.request(`${server.issuer}${path}`);
      assert.equal(page.status, 200, `${path}: ${page.$('.message').text()}`);
      assert.match(page.$('h1').text(), question);
      assert.ok(page.$('.consequence').text().length > 30, `${path} says what follows`);
      const form = page.$('form.confirm');
      assert.equal(form.attr('action'), path.split('?')[0]);
      assert.equal(form.find('input[name=confirm]').attr('value'), 'yes');
      assert.equal(form.find('a.cancel').attr('href'), back);
      // The same post without confirm=yes (an old one-click form) only asks again.
      const fields = Object.fromEntries(form.find('input[type=hidden]').toArray().map((el) => [page.$(el).attr('name')!, page.$(el).attr('value') ?? '']));
      delete fields.confirm;
      const unconfirmed = await browser.request(`${server.issuer}${path.split('?')[0]}`, { form: fields });
      assert.equal(unconfirmed.status, 200);
      assert.match(unconfirmed.$('h1').text(), question);
    }
    assert.deepEqual(await adminSnapshot(server), before, 'nothing changed without a confirmation');
    assert.equal((await server.stepgate.credentials.totp(victim.id))!.secret, totpBefore);

    // Confirmed: it acts, and the page it lands on says so.
    const ask = await browser.request(`${server.issuer}${user}/disable`);
    const done = await browser.submit(ask, {}, /disable$/);
    assert.match(done.url, /\?done=user\.disabled$/);
    assert.equal(done.$('.notice[role=status]').text(), 'Account disabled. Its sessions and tokens have ended.');
    assert.equal((await server.stepgate.users.byId(victim.id))!.disabled, true);
    const deleted = await browser.submit(await browser.request(`${server.issuer}/admin/clients/doomed/delete`), {}, /delete$/);
    assert.equal(deleted.$('.notice').text(), 'Client deleted.');
    assert.equal(await server.stepgate.clients.get('doomed'), undefined);

    // A question about something that does not exist is a 404 page, not a form.
    const missing = await browser.request(`${server.issuer}/admin/users/no-such-user/delete`);
    assert.equal(missing.status, 404);
    assert.equal(missing.$('form.confirm').length, 0);
    const noLink = await browser.request(`${server.issuer}${user}/identities/unlink?idp=gone&subject=nobody`);
    assert.equal(noLink.status, 404);
    const own = await browser.request(`${server.issuer}/admin/clients/stepgate-admin/delete`);
    assert.equal(own.status, 409, 'the console\'s own client is not offered for deletion');
    assert.equal(own.$('form.confirm').length, 0);
    const unnamed = await browser.request(`${server.issuer}${user}/identities/unlink`);
    assert.equal(unnamed.status, 400);
    assert.match(unnamed.$('.message').text(), /Which identity\? Choose "Unlink" beside it/);
    // Only our own sentences: an unknown notice key shows nothing.
    const spoof = await browser.request(`${server.issuer}/admin/clients?done=Your+password+expired`);
    assert.equal(spoof.$('.notice').length, 0);
  });

  it('says "saved" after a change on the page it lands on', async () => {
    const { browser } = await consoleLogin(server, await freshAdmin());
    const lou = await addUser(server, 'lou');
    const page = await browser.request(`${server.issuer}/admin/users/${lou.id}`);
    const saved = await browser.submit(page, { email: 'lou@new.example', roles: '' }, /\/edit$/);
    assert.equal(saved.status, 200);
    assert.equal(saved.$('.notice').text(), 'User saved.');
    assert.equal((await server.stepgate.users.byId(lou.id))!.email, 'lou@new.example');
    await server.stepgate.clients.create({ clientId: 'chained', secret: 'chained-secret-0123456789', redirectUris: ['https://c.example/cb'], grantTypes: ['authorization_code'], chain: 'password', settings: {} });
    const chain = await browser.request(`${server.issuer}/admin/clients/chained/chain`);
    const edited = await browser.submit(chain, { 'new-step': 'totp' }, /\/chain$/, { name: 'edit', value: 'add-step' });
    assert.match(edited.$('.notice').text(), /Chain saved/);
  });

  it('the overview counts clients and users and lists the newest sign-ins and failures, linked to their sections', async () => {
    const { browser } = await consoleLogin(server, await freshAdmin());
    // A failure to show: a wrong password at the console's own login.
    const wrong = new Browser();
    const login = await wrong.go(`${server.issuer}/admin/login`);
    await wrong.submit(login, { username: 'boss', password: 'not the password' });
    const failure = await eventually(() => server.stepgate.audit.list({ kind: 'auth.step.failed' }), (e) => e.length > 0);
    const page = await browser.request(`${server.issuer}/admin`);
    assert.equal(page.status, 200);
    assert.equal(page.$('h1').text(), 'Overview');
    assert.equal(page.$('#count-clients').text(), String((await server.stepgate.clients.list()).length));
    assert.equal(page.$('#count-users').text(), String((await server.stepgate.users.list()).length));
    // The console's own sign-ins are sign-ins too (a code issued to stepgate-admin).
    assert.match(page.$('#recent-sign-ins').text(), /stepgate-admin/);
    assert.match(page.$('#recent-failures tbody tr').first().text(), /boss.*stepgate-admin.*wrong password/s);
    assert.equal(failure[0]!.subject, boss.id);
    for (const section of ['/admin/clients', '/admin/users', '/admin/identity-providers', '/admin/saml-idps', '/admin/keys', '/admin/audit']) {
      assert.ok(page.$(`main a[href="${section}"]`).length, `links ${section}`);
    }
    const apiView = await browser.request(`${server.issuer}/admin/api/overview`, { headers: { accept: 'application/json' } });
    assert.equal(JSON.parse(apiView.html).users.total, (await server.stepgate.users.list()).length);
  });

  it('the audit log shows a change as the fields that changed, old and new, not as JSON', async () => {
    const { browser } = await consoleLogin(server, await freshAdmin());
    await server.stepgate.clients.create({ clientId: 'diffed', secret: 'diffed-secret-0123456789', redirectUris: ['https://x.example/cb'], grantTypes: ['authorization_code'], chain: 'password', settings: { name: 'Diffed' } });
    const edit = await browser.request(`${server.issuer}/admin/clients/diffed/edit`);
    await browser.submit(edit, { name: 'Diffed Two', redirect_uris: 'https://x.example/cb\nhttps://x.example/cb2', grant_types: 'authorization_code' }, /\/edit$/);
    const audit = await browser.request(`${server.issuer}/admin/audit?kind=admin.client.updated&client=diffed`);
    const rows = audit.$('table.diff tbody tr').toArray().map((tr) => audit.$(tr).find('th, td').toArray().map((c) => audit.$(c).text().trim()));
    assert.deepEqual(rows.find((r) => r[0] === 'name'), ['name', 'Diffed', 'Diffed Two']);
    assert.deepEqual(rows.find((r) => r[0] === 'redirect_uris'), ['redirect_uris', 'https://x.example/cb', 'https://x.example/cb, https://x.example/cb2']);
    assert.ok(!rows.some((r) => r[0] === 'chain'), 'unchanged fields are not listed');
    assert.ok(!audit.html.includes('&quot;before&quot;'), 'no raw JSON');
  });

  it('a cancelled console sign-in says so and what to do next; another error answer is named too', async () => {
    const browser = new Browser();
    const signIn = await browser.go(`${server.issuer}/admin/login`);
    assert.equal(signIn.$('input[name=password]').length, 1);
    // Cancel on the broker's own sign-in page ends the login with error=access_denied at /admin/callback.
    const cancelled = await browser.submit(signIn, {}, /abort/);
    assert.match(cancelled.url, /\/admin\/callback\?error=access_denied/);
    assert.equal(cancelled.status, 400);
    assert.equal(cancelled.$('h1').text(), 'Sign-in cancelled');
    assert.match(cancelled.$('.message').text(), /cancelled .* nothing was changed\. Sign in again when you are ready/);
    assert.equal(cancelled.$('main a[href="/admin/login"]').text(), 'Sign in again');
    assert.match(cancelled.$('main code').text(), /^access_denied: /);
    const other = await browser.request(`${server.issuer}/admin/callback?error=invalid_scope&error_description=%3Cb%3Eno%3C%2Fb%3E`);
    assert.equal(other.status, 400);
    assert.equal(other.$('h1').text(), 'Sign-in refused');
    assert.equal(other.$('main code').text(), 'invalid_scope: <b>no</b>', 'the description is shown as text');
  });

  it('signs out: the session row is gone and the cookie no longer works', async () => {
    const { browser, page } = await consoleLogin(server, await freshAdmin());
    const out = await browser.submit(page, {}, /logout/);
    assert.match(out.html, /Signed out/);
    const after = await browser.request(`${server.issuer}/admin/clients`);
    assert.equal(after.status, 302);
  });
});
