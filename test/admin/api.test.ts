import assert from 'node:assert/strict';
import { startStepgate, type TestServer } from '../support/server.ts';
import * as oidc from 'openid-client';
import { addClient, addUser, relyingParty, PASSWORD } from '../support/fixtures.ts';
import { api, clientToken, eventually, userToken, refusedUnchanged, adminSnapshot } from '../support/admin.ts';

describe('admin API', function () {
  this.timeout(60_000);
  let server: TestServer;
  let token: string;

  const refused = (call: () => ReturnType<typeof api>, status: number, message: RegExp) => refusedUnchanged(server, call, status, message);

  const newClient = (id: string, extra: Record<string, unknown> = {}) => ({ client_id: id, redirect_uris: ['https://app.example/cb'], chain: 'password,totp', ...extra });

  before(async () => {
    server = await startStepgate();
    token = await clientToken(server, 'automation', { adminApi: true });
  });
  after(async () => server.stop());

  it('serves an OpenAPI 3 document describing every route', async () => {
    const res = await fetch(`${server.issuer}/admin/api/openapi.json`);
    assert.equal(res.status, 200);
    const doc = await res.json() as { openapi: string; paths: Record<string, unknown>; components: { schemas: Record<string, { properties?: Record<string, unknown>; additionalProperties?: unknown }> } };
    assert.match(doc.openapi, /^3\./);
    for (const path of ['/clients', '/clients/{id}', '/users', '/users/{id}', '/users/{id}/disable', '/users/{id}/password', '/users/{id}/totp', '/users/{id}/unlock', '/audit']) {
      assert.ok(doc.paths[path], `documents ${path}`);
    }
    assert.ok(doc.components.schemas.ClientCreate!.properties!.chain, 'request schemas come from the zod schemas');
    assert.equal(doc.components.schemas.ClientCreate!.additionalProperties, false, 'unknown fields are refused');
  });

  it('refuses a request without credentials (401), a bad token (401) and a token without the admin scope (403)', async () => {
    assert.equal((await api(server, 'GET', '/clients')).status, 401);
    const bad = await api(server, 'GET', '/clients', { token: 'not-a-token' });
    assert.equal(bad.status, 401);
    assert.equal(bad.body.error, 'invalid_token');
    const noScope = await clientToken(server, 'automation-no-scope', { adminApi: true, scope: '' });
    const res = await api(server, 'GET', '/clients', { token: noScope });
    assert.equal(res.status, 403);
    assert.match(res.body.error_description, /admin" scope/);
  });

  it('refuses a client_credentials token with the admin scope when the client is not allowed the admin API', async () => {
    // Such a client's application token never carries the scope, and even a user token that
    // did would be refused for the client (see the user-token test below).
    const other = await clientToken(server, 'not-admin-app', { adminApi: false });
    await refused(() => api(server, 'POST', '/clients', { token: other, body: newClient('sneaky') }), 403, /lacks the "admin" scope|not allowed to use the admin API/);
  });

  it('accepts a user token with the admin scope only from an account with the admin role, at a client allowed the admin API', async () => {
    const app = await addClient(server, 'token-app', 'password,totp');
    await server.stepgate.db.change('UPDATE clients SET settings = :s WHERE client_id = :id', { s: JSON.stringify({ adminApi: true }), id: 'token-app' });
    const thirdParty = await addClient(server, 'third-party', 'password,totp');
    const boss = await addUser(server, 'boss', { roles: ['admin'] });
    const worker = await addUser(server, 'worker');
    const bossToken = await userToken(server, { clientId: app.clientId, secret: app.secret! }, boss, 'openid admin');
    assert.equal((await api(server, 'GET', '/users', { token: bossToken })).status, 200);
    const phished = await userToken(server, { clientId: thirdParty.clientId, secret: thirdParty.secret! }, boss, 'openid admin', 1);
    const refusedThirdParty = await api(server, 'GET', '/users', { token: phished });
    assert.equal(refusedThirdParty.status, 403, 'an admin token obtained by a client not allowed the admin API');
    assert.match(refusedThirdParty.body.error_description, /not allowed to use the admin API/);
    const workerToken = await userToken(server, { clientId: app.clientId, secret: app.secret! }, worker, 'openid admin');
    const before = await adminSnapshot(server);
    const res = await api(server, 'POST', '/users', { token: workerToken, body: { username: 'made-by-worker', password: PASSWORD } });
    assert.equal(res.status, 403);
    assert.match(res.body.error_description, /admin role/);
    assert.deepEqual(await adminSnapshot(server), before);
    assert.equal((await api(server, 'GET', '/users', { token: workerToken })).status, 403, 'reads are refused too');
  });

  describe('clients', () => {
    it('creates a confidential client: the generated secret is returned once and never again', async () => {
      const res = await api(server, 'POST', '/clients', { token, body: newClient('shop', { name: 'Shop', user_token_ttl: 600, app_token_ttl: 1200, allow_non_expiring: true }) });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      assert.equal(typeof res.body.client_secret, 'string');
      assert.equal(res.body.client.chain_description, 'Step 1: Password. Step 2: Authenticator app (TOTP).');
      assert.deepEqual(res.body.client.chain_steps, [['password'], ['totp']]);
      const stored = await server.stepgate.clients.get('shop');
      assert.equal(stored?.secret, res.body.client_secret);
      assert.deepEqual({ u: (stored!.settings as Record<string, unknown>).userTokenTtl, a: (stored!.settings as Record<string, unknown>).appTokenTtl, n: (stored!.settings as Record<string, unknown>).allowNonExpiring }, { u: 600, a: 1200, n: true });
      const got = await api(server, 'GET', '/clients/shop', { token });
      assert.equal(got.status, 200);
      assert.equal(got.body.client_secret, undefined);
      assert.ok(!JSON.stringify(got.body).includes(res.body.client_secret));
      const all = await api(server, 'GET', '/clients', { token });
      assert.ok(all.body.some((c: { client_id: string }) => c.client_id === 'shop'));
    });

    it('creates a public client without a secret', async () => {
      const res = await api(server, 'POST', '/clients', { token, body: newClient('spa-app', { public: true, chain: 'password' }) });
      assert.equal(res.status, 201);
      assert.equal(res.body.client.public, true);
      assert.equal(res.body.client_secret, undefined);
    });

    it('refuses an unknown field with its name', async () => {
      const res = await refused(() => api(server, 'POST', '/clients', { token, body: newClient('x1', { colour: 'blue' }) }), 400, /colour/);
      assert.equal(res.body.error, 'invalid_request');
    });

    it('refuses a bad redirect URI with the field path and the reason', async () => {
      const res = await refused(() => api(server, 'POST', '/clients', { token, body: newClient('x2', { redirect_uris: ['https://ok.example/cb', 'not a url'] }) }), 400, /not an absolute URL/);
      assert.equal(res.body.issues[0].path, 'redirect_uris.1');
      await refused(() => api(server, 'POST', '/clients', { token, body: newClient('x3', { redirect_uris: ['https://ok.example/cb#frag'] }) }), 400, /fragment/);
    });

    it('refuses a chain naming an unknown authenticator, or starting with one that needs a user', async () => {
      const res = await refused(() => api(server, 'POST', '/clients', { token, body: newClient('x4', { chain: 'password,fingerprint' }) }), 400, /unknown authenticator "fingerprint"/);
      assert.equal(res.body.issues[0].path, 'chain');
      await refused(() => api(server, 'POST', '/clients', { token, body: newClient('x5', { chain: 'totp,password' }) }), 400, /cannot be in the first step/);
    });

    it('refuses rules across fields: authorization_code without a redirect URI, a public client with client_credentials', async () => {
      await refused(() => api(server, 'POST', '/clients', { token, body: newClient('x6', { redirect_uris: [] }) }), 400, /redirect URI/);
      await refused(() => api(server, 'POST', '/clients', { token, body: newClient('x7', { public: true, grant_types: ['client_credentials'] }) }), 400, /public client cannot use client_credentials/);
      await refused(() => api(server, 'POST', '/clients', { token, body: newClient('x8', { grant_types: ['implicit'] }) }), 400, /grant_types/);
    });

    it('refuses a duplicate id with 409 and leaves the existing client as it was', async () => {
      const res = await refused(() => api(server, 'POST', '/clients', { token, body: newClient('shop', { chain: 'password' }) }), 409, /already exists/);
      assert.equal(res.body.error, 'duplicate');
    });

    it('refuses malformed JSON with 400', async () => {
      await refused(() => api(server, 'POST', '/clients', { token, rawBody: '{"client_id": ' }), 400, /./);
    });

    it('updates a client: chain, URIs, lifetimes; null clears a lifetime; the audit log has before and after', async () => {
      const res = await api(server, 'PATCH', '/clients/shop', { token, body: { chain: 'password,totp|password', redirect_uris: ['https://shop.example/cb'], user_token_ttl: null } });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.client.chain, 'password,totp|password');
      assert.equal(res.body.client.chain_description, 'Step 1: Password. Step 2: Authenticator app (TOTP) or Password.');
      assert.equal(res.body.client.user_token_ttl, null);
      assert.equal(res.body.client.app_token_ttl, 1200, 'fields not named are kept');
      const [event] = (await api(server, 'GET', '/audit?kind=admin.client.updated', { token })).body.events;
      assert.equal(event.actor, 'api:automation');
      assert.equal(event.subject, 'shop');
      assert.equal(event.details.before.chain, 'password,totp');
      assert.equal(event.details.after.chain, 'password,totp|password');
    });

    it('refuses a bad update and leaves the client unchanged', async () => {
      await refused(() => api(server, 'PATCH', '/clients/shop', { token, body: { chain: 'password,nope' } }), 400, /unknown authenticator "nope"/);
      await refused(() => api(server, 'PATCH', '/clients/shop', { token, body: { redirect_uris: [], chain: 'password' } }), 400, /redirect URI/);
      await refused(() => api(server, 'PATCH', '/clients/shop', { token, body: { client_id: 'renamed' } }), 400, /client_id/);
      await refused(() => api(server, 'PATCH', '/clients/nobody', { token, body: { chain: 'password' } }), 404, /no client "nobody"/);
    });

    it('rotates a secret: the new one is returned once and replaces the stored one', async () => {
      const before = (await server.stepgate.clients.get('shop'))!.secret;
      const res = await api(server, 'PATCH', '/clients/shop', { token, body: { rotate_secret: true } });
      assert.equal(res.status, 200);
      assert.notEqual(res.body.client_secret, before);
      assert.equal((await server.stepgate.clients.get('shop'))!.secret, res.body.client_secret);
    });

    it('a client created through the API with admin_api can automate the API with a client_credentials token', async () => {
      const res = await api(server, 'POST', '/clients', { token, body: { client_id: 'ops-bot', grant_types: ['client_credentials'], chain: 'password', admin_api: true } });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      const rp = await relyingParty(server, { clientId: 'ops-bot', secret: res.body.client_secret });
      const botToken = (await oidc.clientCredentialsGrant(rp, { scope: 'admin' })).access_token;
      const catalog = await api(server, 'GET', '/authenticators', { token: botToken });
      assert.equal(catalog.status, 200);
      assert.deepEqual(catalog.body.map((x: { id: string }) => x.id).sort(), ['email', 'passkey', 'password', 'recovery', 'totp']);
      // Revoked at the token endpoint: refused at once.
      await oidc.tokenRevocation(rp, botToken);
      assert.equal((await api(server, 'GET', '/clients', { token: botToken })).status, 401);
      const revoked = await eventually(async () => (await api(server, 'GET', '/audit?kind=auth.token.revoked&client=ops-bot', { token })).body.events, (e) => e.length > 0);
      assert.equal(revoked.length, 1, 'the revocation is audited');
    });

    it('deletes a client; the console client cannot be deleted or weakened to one step', async () => {
      assert.equal((await api(server, 'DELETE', '/clients/spa-app', { token })).status, 204);
      assert.equal((await api(server, 'GET', '/clients/spa-app', { token })).status, 404);
      assert.equal((await api(server, 'DELETE', '/clients/spa-app', { token })).status, 404);
      await refused(() => api(server, 'DELETE', '/clients/stepgate-admin', { token }), 409, /cannot be deleted/);
      await refused(() => api(server, 'PATCH', '/clients/stepgate-admin', { token, body: { chain: 'password' } }), 400, /two different factors/);
      await refused(() => api(server, 'PATCH', '/clients/stepgate-admin', { token, body: { chain: 'password,totp|password' } }), 400, /two different factors/);
    });
  });

  describe('users', () => {
    let userId: string;

    it('creates a user with TOTP: the secret is returned once and works', async () => {
      const res = await api(server, 'POST', '/users', { token, body: { username: 'Erin', password: PASSWORD, email: 'erin@example.org', totp: true } });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      userId = res.body.user.id;
      assert.equal(res.body.user.username, 'erin');
      assert.equal(res.body.user.totp_enrolled, true);
      assert.match(res.body.totp.uri, /^otpauth:\/\/totp\//);
      assert.equal((await server.stepgate.credentials.totp(userId))!.secret, res.body.totp.secret);
      const got = await api(server, 'GET', `/users/${userId}`, { token });
      assert.equal(got.body.username, 'erin');
      assert.ok(!JSON.stringify(got.body).includes(res.body.totp.secret));
      assert.ok((await api(server, 'GET', '/users', { token })).body.some((u: { id: string }) => u.id === userId));
    });

    it('refuses a duplicate username (409), a short password, a bad email and an unknown field (400)', async () => {
      await refused(() => api(server, 'POST', '/users', { token, body: { username: 'ERIN', password: PASSWORD } }), 409, /already exists/);
      const short = await refused(() => api(server, 'POST', '/users', { token, body: { username: 'frank', password: 'short' } }), 400, /at least 8/);
      assert.equal(short.body.issues[0].path, 'password');
      await refused(() => api(server, 'POST', '/users', { token, body: { username: 'frank', email: 'not-an-email' } }), 400, /email/);
      await refused(() => api(server, 'POST', '/users', { token, body: { username: 'frank', isAdmin: true } }), 400, /isAdmin/);
    });

    it('disables and enables an account', async () => {
      const off = await api(server, 'POST', `/users/${userId}/disable`, { token });
      assert.equal(off.status, 200);
      assert.equal(off.body.user.disabled, true);
      assert.equal((await server.stepgate.users.byId(userId))!.disabled, true);
      const on = await api(server, 'POST', `/users/${userId}/enable`, { token });
      assert.equal(on.body.user.disabled, false);
      await refused(() => api(server, 'POST', '/users/no-such-id/disable', { token }), 404, /no user/);
    });

    it('resets a password to a given one, or to a generated one returned once', async () => {
      const given = await api(server, 'POST', `/users/${userId}/password`, { token, body: { password: 'a brand new passphrase' } });
      assert.equal(given.status, 200);
      assert.equal(given.body.password, undefined);
      const s = server.stepgate;
      assert.ok(await s.passwords.verify((await s.users.byId(userId))!.passwordHash, 'a brand new passphrase'));
      const generated = await api(server, 'POST', `/users/${userId}/password`, { token, body: {} });
      assert.equal(typeof generated.body.password, 'string');
      assert.ok(await s.passwords.verify((await s.users.byId(userId))!.passwordHash, generated.body.password));
      await refused(() => api(server, 'POST', `/users/${userId}/password`, { token, body: { password: 'short' } }), 400, /at least 8/);
    });

    it('resets TOTP: a new secret replaces the old one', async () => {
      const old = (await server.stepgate.credentials.totp(userId))!.secret;
      const res = await api(server, 'POST', `/users/${userId}/totp`, { token });
      assert.equal(res.status, 200);
      assert.notEqual(res.body.totp.secret, old);
      assert.equal((await server.stepgate.credentials.totp(userId))!.secret, res.body.totp.secret);
    });

    it('unlocks an account locked by failed attempts', async () => {
      const s = server.stepgate;
      const keys = { account: 'password:account:erin', address: 'password:address:203.0.113.9' };
      for (let i = 0; i <= s.config.lockout.maxFailures; i++) await s.lockout.attempt(keys);
      assert.ok((await s.lockout.lockedUntil(keys.account))! > Date.now() / 1000);
      assert.notEqual((await api(server, 'GET', `/users/${userId}`, { token })).body.locked_until, null);
      const res = await api(server, 'POST', `/users/${userId}/unlock`, { token });
      assert.equal(res.status, 200);
      assert.equal(res.body.user.locked_until, null);
      assert.equal(await s.lockout.lockedUntil(keys.account), null);
      const lockouts = await eventually(async () => (await api(server, 'GET', '/audit?kind=auth.lockout', { token })).body.events, (e) => e.length > 0);
      assert.ok(lockouts.some((e: { subject: string }) => e.subject === 'password:account:erin'), 'the lockout itself was audited');
    });
  });

  describe('audit log', () => {
    it('records every admin change with actor and address, and never a secret', async () => {
      const res = await api(server, 'GET', '/audit?kind=admin.&limit=500', { token });
      assert.equal(res.status, 200);
      const kinds = new Set(res.body.events.map((e: { kind: string }) => e.kind));
      for (const k of ['admin.client.created', 'admin.client.updated', 'admin.client.deleted', 'admin.user.created', 'admin.user.disabled', 'admin.user.enabled', 'admin.user.password_reset', 'admin.user.totp_reset', 'admin.user.unlocked']) {
        assert.ok(kinds.has(k), `records ${k}`);
      }
      assert.ok(res.body.events.every((e: { actor: string; address: string }) => e.actor === 'api:automation' && e.address));
      const rows = JSON.stringify(await server.stepgate.db.select('SELECT * FROM audit_events', {}));
      const shop = (await server.stepgate.clients.get('shop'))!;
      const erin = (await server.stepgate.users.byUsername('erin'))!;
      assert.ok(!rows.includes(shop.secret!), 'no client secret');
      assert.ok(!rows.includes((await server.stepgate.credentials.totp(erin.id))!.secret), 'no TOTP secret');
      assert.ok(!rows.includes(erin.passwordHash!), 'no password hash');
      assert.ok(!rows.includes('a brand new passphrase'), 'no password');
    });

    it('filters by kind, actor, client and time range, and pages', async () => {
      const byClient = await api(server, 'GET', '/audit?client=shop', { token });
      assert.ok(byClient.body.events.length > 0 && byClient.body.events.every((e: { clientId: string }) => e.clientId === 'shop'));
      const exact = await api(server, 'GET', '/audit?kind=admin.user.password_', { token });
      assert.ok(exact.body.events.length > 0 && exact.body.events.every((e: { kind: string }) => e.kind === 'admin.user.password_reset'));
      assert.deepEqual((await api(server, 'GET', '/audit?kind=admin.user.password%25', { token })).body.events, [], '"%" is not a wildcard');
      const byActor = await api(server, 'GET', '/audit?actor=api:nobody', { token });
      assert.deepEqual(byActor.body.events, []);
      const future = await api(server, 'GET', `/audit?from=${encodeURIComponent(new Date(Date.now() + 3600_000).toISOString())}`, { token });
      assert.deepEqual(future.body.events, []);
      const past = await api(server, 'GET', `/audit?to=${encodeURIComponent(new Date(Date.now() - 3600_000).toISOString())}`, { token });
      assert.deepEqual(past.body.events, []);
      const page1 = await api(server, 'GET', '/audit?limit=2', { token });
      assert.equal(page1.body.events.length, 2);
      const page2 = await api(server, 'GET', `/audit?limit=2&before=${page1.body.next_before}`, { token });
      assert.ok(page2.body.events[0].id < page1.body.events[1].id);
      const bad = await api(server, 'GET', '/audit?from=yesterday', { token });
      assert.equal(bad.status, 400);
      assert.equal(bad.body.issues[0].path, 'from');
    });

    it('is read-only', async () => {
      assert.equal((await api(server, 'POST', '/audit', { token, body: {} })).status, 405);
      assert.equal((await api(server, 'DELETE', '/audit', { token })).status, 405);
    });
  });
});
