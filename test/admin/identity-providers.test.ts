import assert from 'node:assert/strict';
import { startStepgate, freePort, type TestServer } from '../support/server.ts';
import { startUpstream, type Upstream } from '../support/upstream.ts';
import { Browser } from '../support/browser.ts';
import { addClient, addUser, beginLogin, relyingParty, RP_CALLBACK } from '../support/fixtures.ts';
import { authorizationRequestUpstream } from '../support/federation.ts';
import { api, clientToken, userToken, refusedUnchanged, adminSnapshot } from '../support/admin.ts';

describe('admin API: identity providers and linked identities', function () {
  this.timeout(60_000);
  let server: TestServer;
  let corp: Upstream;
  let token: string;

  const refused = (call: () => ReturnType<typeof api>, status: number, message: RegExp) => refusedUnchanged(server, call, status, message);

  const corpInput = (extra: Record<string, unknown> = {}) => ({
    name: 'corp', issuer: `${corp.issuer}/`, client_id: corp.clientId, client_secret: corp.clientSecret, display_name: 'Corp', allow_private_network: true, ...extra,
  });

  /** Starts a login at `clientId`, picks `option` in the first step, and returns where the browser is sent upstream. */
  async function upstreamRedirect(clientId: string, option: string): Promise<URL> {
    const rp = await relyingParty(server, { clientId, secret: `${clientId}-secret-0123456789` });
    const login = await beginLogin(rp);
    const browser = new Browser(RP_CALLBACK);
    const page = await browser.go(login.url.href);
    assert.equal(page.$(`button[value=${option}]`).length, 1, `the first step offers ${option}`);
    const chosen = await browser.request(new URL(page.$('form').attr('action')!, server.issuer).href, { form: { _csrf: page.$('input[name=_csrf]').attr('value')!, option } });
    return new URL(await authorizationRequestUpstream(browser, chosen.location!, corp.issuer));
  }

  before(async () => {
    const port = await freePort();
    corp = await startUpstream({ host: '127.0.0.1', users: [], redirectUris: [`http://localhost:${port}/federation/corp/callback`] });
    server = await startStepgate({ port });
    token = await clientToken(server, 'automation', { adminApi: true });
  });
  after(async () => {
    await server?.stop();
    await corp?.stop();
  });

  it('documents the new routes in the OpenAPI document, the secret as write-only', async () => {
    const doc = await (await fetch(`${server.issuer}/admin/api/openapi.json`)).json() as { paths: Record<string, unknown>; components: { schemas: Record<string, { properties?: Record<string, unknown>; additionalProperties?: unknown }> } };
    for (const path of ['/identity-providers', '/identity-providers/{name}', '/users/{id}/identities', '/users/{id}/identities/{idp}/{subject}']) assert.ok(doc.paths[path], `documents ${path}`);
    assert.equal(doc.components.schemas.IdentityProviderCreate!.additionalProperties, false);
    assert.ok(doc.components.schemas.IdentityProviderCreate!.properties!.client_secret);
    assert.equal(doc.components.schemas.IdentityProvider!.properties!.client_secret, undefined);
  });

  it('refuses a call without credentials (401) and one by a non-admin (403), writing nothing', async () => {
    await refused(() => api(server, 'POST', '/identity-providers', { body: corpInput() }), 401, /sign in to the console/);
    await refused(() => api(server, 'GET', '/identity-providers'), 401, /sign in/);
    const app = await addClient(server, 'token-app', 'password,totp');
    await server.stepgate.db.change('UPDATE clients SET settings = :s WHERE client_id = :id', { s: JSON.stringify({ adminApi: true }), id: 'token-app' });
    const worker = await addUser(server, 'worker');
    const workerToken = await userToken(server, { clientId: app.clientId, secret: app.secret! }, worker, 'openid admin');
    await refused(() => api(server, 'POST', '/identity-providers', { token: workerToken, body: corpInput() }), 403, /admin role/);
    await refused(() => api(server, 'POST', `/users/${worker.id}/identities`, { token: workerToken, body: { idp: 'corp', subject: 's' } }), 403, /admin role/);
    const notAllowed = await clientToken(server, 'not-admin-app', { adminApi: false });
    await refused(() => api(server, 'DELETE', '/identity-providers/corp', { token: notAllowed }), 403, /admin/);
  });

  it('creates a provider from an issuer URL: the secret is sealed, never returned, never audited', async () => {
    const res = await api(server, 'POST', '/identity-providers', { token, body: corpInput({ claim_mapping: { username: 'nickname' }, jit: true }) });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assert.deepEqual(res.body, {
      name: 'corp', issuer: corp.issuer, client_id: corp.clientId, display_name: 'Corp', scopes: ['openid', 'profile', 'email'],
      claim_mapping: { username: 'nickname' }, jit: true, trust_upstream_amr: false, amr_map: {}, allow_private_network: true, redirect_uri: `${server.issuer}/federation/corp/callback`, used_by: [],
    });
    assert.equal((await server.stepgate.idps.get('corp'))!.clientSecret, corp.clientSecret);
    const [row] = await server.stepgate.db.select<{ client_secret: string }>('SELECT client_secret FROM identity_providers WHERE name = :n', { n: 'corp' });
    assert.ok(!row!.client_secret.includes(corp.clientSecret), 'sealed at rest');
    const got = await api(server, 'GET', '/identity-providers/corp', { token });
    assert.equal(got.status, 200);
    assert.ok(!JSON.stringify(got.body).includes(corp.clientSecret));
    const all = await api(server, 'GET', '/identity-providers', { token });
    assert.deepEqual(all.body.map((i: { name: string }) => i.name), ['corp']);
    const [event] = (await api(server, 'GET', '/audit?kind=admin.idp.created', { token })).body.events;
    assert.equal(event.subject, 'corp');
    assert.equal(event.actor, 'api:automation');
    assert.equal(event.details.after.issuer, corp.issuer);
    assert.ok(!JSON.stringify(await server.stepgate.db.select('SELECT * FROM audit_events', {})).includes(corp.clientSecret), 'no secret in the audit log');
  });

  it('creates a provider from a preset: its issuer, display name and default scopes', async () => {
    const res = await api(server, 'POST', '/identity-providers', { token, body: { name: 'google', preset: 'google', client_id: 'g-id', client_secret: 'g-secret' } });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assert.equal(res.body.issuer, 'https://accounts.google.com');
    assert.equal(res.body.display_name, 'Google');
    assert.equal(res.body.jit, false);
  });

  it('refuses bad input with the field and the reason (400), and taken names (409)', async () => {
    const bad: [Record<string, unknown>, RegExp, string?][] = [
      [corpInput({ name: 'other', colour: 'blue' }), /colour/],
      [corpInput({ name: 'other', issuer: 'not a url' }), /not an absolute URL/, 'issuer'],
      [corpInput({ name: 'other', issuer: 'http://idp.example.com' }), /must be https/, 'issuer'],
      [corpInput({ name: 'other', issuer: 'https://idp.example.com/?tenant=1' }), /query or fragment/, 'issuer'],
      [{ name: 'other', preset: 'myspace', client_id: 'x', client_secret: 'y' }, /unknown preset "myspace"/, 'preset'],
      [{ name: 'other', preset: 'google', issuer: 'https://x.example', client_id: 'x', client_secret: 'y' }, /choose one of/, 'preset'],
      [{ name: 'other', client_id: 'x', client_secret: 'y' }, /choose one of/, 'preset'],
      [corpInput({ name: 'Not Valid' }), /lowercase/, 'name'],
      [corpInput({ name: 'other', scopes: ['profile'] }), /must include "openid"/, 'scopes'],
      [corpInput({ name: 'other', scopes: ['openid', 'a"b'] }), /not a scope/, 'scopes'],
      [corpInput({ name: 'other', claim_mapping: { roles: 'groups' } }), /roles/],
      [corpInput({ name: 'other', client_secret: undefined }), /client_secret/, 'client_secret'],
      [corpInput({ name: 'other', jit: 'yes' }), /jit/, 'jit'],
    ];
    for (const [body, message, path] of bad) {
      const res = await refused(() => api(server, 'POST', '/identity-providers', { token, body }), 400, message);
      if (path) assert.ok(res.body.issues.some((i: { path: string }) => i.path === path), `${JSON.stringify(res.body.issues)} names ${path}`);
    }
    await refused(() => api(server, 'POST', '/identity-providers', { token, rawBody: '{"name": ' }), 400, /./);
    const dup = await refused(() => api(server, 'POST', '/identity-providers', { token, body: corpInput({ client_id: 'another' }) }), 409, /"corp" is already the name/);
    assert.equal(dup.body.error, 'duplicate');
    await refused(() => api(server, 'POST', '/identity-providers', { token, body: corpInput({ name: 'password' }) }), 409, /"password" is already the name of an authenticator/);
  });

  it('a chain naming a provider created through the API validates, and the very next login goes to it', async () => {
    const catalog = await api(server, 'GET', '/authenticators', { token });
    assert.ok(catalog.body.some((x: { id: string; label: string }) => x.id === 'corp' && x.label === 'Sign in with Corp'));
    const res = await api(server, 'POST', '/clients', { token, body: { client_id: 'corp-app', client_secret: 'corp-app-secret-0123456789', redirect_uris: [RP_CALLBACK], chain: 'corp|password,totp' } });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assert.equal(res.body.client.chain_description, 'Step 1: Sign in with Corp or Password. Step 2: Authenticator app (TOTP).');
    assert.deepEqual((await api(server, 'GET', '/identity-providers/corp', { token })).body.used_by, ['corp-app']);
    const upstream = await upstreamRedirect('corp-app', 'corp');
    assert.equal(upstream.searchParams.get('client_id'), corp.clientId);
    assert.equal(upstream.searchParams.get('redirect_uri'), `${server.issuer}/federation/corp/callback`);
  });

  it('updates anything but the name; a new secret replaces the stored one; the next login uses the change', async () => {
    const res = await api(server, 'PATCH', '/identity-providers/corp', { token, body: { client_id: 'renamed-client', display_name: 'Corp SSO', client_secret: 'a-new-upstream-secret', scopes: ['openid', 'email'] } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.client_id, 'renamed-client');
    assert.equal(res.body.display_name, 'Corp SSO');
    assert.equal(res.body.jit, true, 'fields not named are kept');
    assert.deepEqual(res.body.claim_mapping, { username: 'nickname' });
    assert.equal(res.body.client_secret, undefined);
    assert.equal((await server.stepgate.idps.get('corp'))!.clientSecret, 'a-new-upstream-secret');
    const [event] = (await api(server, 'GET', '/audit?kind=admin.idp.updated', { token })).body.events;
    assert.equal(event.details.before.client_id, corp.clientId);
    assert.equal(event.details.after.client_id, 'renamed-client');
    assert.equal(event.details.secret_replaced, true);
    assert.ok(!JSON.stringify(await server.stepgate.db.select('SELECT * FROM audit_events', {})).includes('a-new-upstream-secret'));
    const upstream = await upstreamRedirect('corp-app', 'corp');
    assert.equal(upstream.searchParams.get('client_id'), 'renamed-client');
    assert.equal(upstream.searchParams.get('scope'), 'openid email');

    const keptSecret = await api(server, 'PATCH', '/identity-providers/corp', { token, body: { client_id: corp.clientId } });
    assert.equal(keptSecret.status, 200);
    assert.equal((await server.stepgate.idps.get('corp'))!.clientSecret, 'a-new-upstream-secret', 'no secret given: the stored one stays');
  });

  it('refuses a bad update and leaves the provider unchanged', async () => {
    await refused(() => api(server, 'PATCH', '/identity-providers/corp', { token, body: { name: 'renamed' } }), 400, /name/);
    await refused(() => api(server, 'PATCH', '/identity-providers/corp', { token, body: { issuer: 'ftp://corp.example' } }), 400, /must be https/);
    await refused(() => api(server, 'PATCH', '/identity-providers/corp', { token, body: { preset: 'aol' } }), 400, /unknown preset/);
    await refused(() => api(server, 'PATCH', '/identity-providers/corp', { token, body: { scopes: [] } }), 400, /scopes/);
    await refused(() => api(server, 'PATCH', '/identity-providers/corp', { token, body: { client_id: '' } }), 400, /client_id/);
    await refused(() => api(server, 'PATCH', '/identity-providers/nowhere', { token, body: { jit: true } }), 404, /no identity provider "nowhere"/);
  });

  describe('linked identities', () => {
    let ann: Awaited<ReturnType<typeof addUser>>;
    let bob: Awaited<ReturnType<typeof addUser>>;
    const subject = 'ann/at corp?';

    before(async () => {
      ann = await addUser(server, 'ann');
      bob = await addUser(server, 'bob');
    });

    it('links an identity at the provider\'s issuer, lists it, and audits the change once', async () => {
      assert.deepEqual((await api(server, 'GET', `/users/${ann.id}/identities`, { token })).body, []);
      const res = await api(server, 'POST', `/users/${ann.id}/identities`, { token, body: { idp: 'corp', subject } });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      assert.deepEqual({ ...res.body.identity, created: undefined }, { idp: 'corp', issuer: corp.issuer, subject, created: undefined });
      assert.equal((await server.stepgate.links.find(corp.issuer, subject))!.accountId, ann.id);
      const listed = await api(server, 'GET', `/users/${ann.id}/identities`, { token });
      assert.equal(listed.body.length, 1);
      assert.ok(!Number.isNaN(Date.parse(listed.body[0].created)));
      const before = await adminSnapshot(server);
      const again = await api(server, 'POST', `/users/${ann.id}/identities`, { token, body: { idp: 'corp', subject } });
      assert.equal(again.status, 200, 'linked already');
      assert.equal(again.body.identity.subject, subject);
      assert.deepEqual(await adminSnapshot(server), before, 'nothing changes, nothing is audited');
      const events = (await api(server, 'GET', '/audit?kind=admin.user.identity_linked', { token })).body.events;
      assert.equal(events.length, 1);
      assert.equal(events[0].subject, ann.id);
      assert.equal(events[0].details.identity.subject, subject);
    });

    it('refuses an identity linked to another user (409), an unknown provider, user or field', async () => {
      await refused(() => api(server, 'POST', `/users/${bob.id}/identities`, { token, body: { idp: 'corp', subject } }), 409, /already linked to another user/);
      await refused(() => api(server, 'POST', `/users/${bob.id}/identities`, { token, body: { idp: 'nowhere', subject: 'x' } }), 400, /no identity provider "nowhere"/);
      await refused(() => api(server, 'POST', '/users/no-such-user/identities', { token, body: { idp: 'corp', subject: 'x' } }), 404, /no user/);
      await refused(() => api(server, 'POST', `/users/${bob.id}/identities`, { token, body: { idp: 'corp', subject: 'x', issuer: 'https://evil.example' } }), 400, /issuer/);
      await refused(() => api(server, 'POST', `/users/${bob.id}/identities`, { token, body: { idp: 'corp', subject: '' } }), 400, /subject/);
      await refused(() => api(server, 'GET', '/users/no-such-user/identities', { token }), 404, /no user/);
    });

    it('unlinks an identity (audited); unlinking it again is a 404', async () => {
      const path = `/users/${ann.id}/identities/corp/${encodeURIComponent(subject)}`;
      await refused(() => api(server, 'DELETE', `/users/${bob.id}/identities/corp/${encodeURIComponent(subject)}`, { token }), 404, /no corp identity/);
      assert.equal((await api(server, 'DELETE', path, { token })).status, 204);
      assert.equal(await server.stepgate.links.find(corp.issuer, subject), undefined);
      await refused(() => api(server, 'DELETE', path, { token }), 404, /no corp identity/);
      const [event] = (await api(server, 'GET', '/audit?kind=admin.user.identity_unlinked', { token })).body.events;
      assert.equal(event.subject, ann.id);
      assert.equal(event.details.identity.issuer, corp.issuer);
    });
  });

  describe('deleting', () => {
    it('refuses to delete a provider a chain names (409, naming the clients); deletes it once unused', async () => {
      await api(server, 'POST', '/clients', { token, body: { client_id: 'second-app', redirect_uris: [RP_CALLBACK], chain: 'password,corp' } });
      const res = await refused(() => api(server, 'DELETE', '/identity-providers/corp', { token }), 409, /in the chain of corp-app, second-app/);
      assert.equal(res.body.error, 'in_use');
      for (const id of ['corp-app', 'second-app']) assert.equal((await api(server, 'PATCH', `/clients/${id}`, { token, body: { chain: 'password,totp' } })).status, 200);
      assert.equal((await api(server, 'DELETE', '/identity-providers/corp', { token })).status, 204);
      assert.equal((await api(server, 'GET', '/identity-providers/corp', { token })).status, 404);
      await refused(() => api(server, 'DELETE', '/identity-providers/corp', { token }), 404, /no identity provider/);
      const [event] = (await api(server, 'GET', '/audit?kind=admin.idp.deleted', { token })).body.events;
      assert.equal(event.details.before.name, 'corp');
      // The broker sees the removal on the next request: a chain can no longer name it.
      await refused(() => api(server, 'PATCH', '/clients/corp-app', { token, body: { chain: 'corp' } }), 400, /unknown authenticator "corp"/);
    });

    it('still lists a client whose chain names a provider removed behind its back (a race, another tool)', async () => {
      await server.stepgate.idps.add({ name: 'gone', issuer: 'https://gone.example', clientId: 'g', clientSecret: 'g-secret', scopes: ['openid'], displayName: 'Gone', claimMapping: {}, jit: false });
      assert.equal((await api(server, 'PATCH', '/clients/second-app', { token, body: { chain: 'password,gone' } })).status, 200);
      await server.stepgate.db.change('DELETE FROM identity_providers WHERE name = :name', { name: 'gone' });
      const listed = await api(server, 'GET', '/clients', { token });
      assert.equal(listed.status, 200);
      const shown = listed.body.find((c: { client_id: string }) => c.client_id === 'second-app');
      assert.equal(shown.chain_description, 'Step 1: Password. Step 2: gone.');
    });
  });
});
