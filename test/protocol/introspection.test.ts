import assert from 'node:assert/strict';
import { startStepgate, type TestServer } from '../support/server.ts';
import { addClient, addUser, PASSWORD } from '../support/fixtures.ts';
import { introspect, tokenRequest } from '../token-api/support.ts';

describe('protocol: introspection a gateway cannot misread', function () {
  this.timeout(30_000);
  let server: TestServer;
  let alice: { id: string };

  before(async () => {
    server = await startStepgate();
    alice = await addUser(server, 'alice', { totp: false });
    await addClient(server, 'app', 'password', { grants: ['password', 'refresh_token', 'client_credentials'] });
    await addClient(server, 'gateway', 'password', { grants: ['client_credentials'] });
    await addClient(server, 'spa', 'password', { secret: null, grants: ['authorization_code', 'refresh_token'] });
  });
  after(async () => server.stop());

  const login = () => tokenRequest(server, 'app', { grant_type: 'password', username: 'alice', password: PASSWORD });

  it('a refresh token is inactive to every client but its own, which sees token_type refresh_token', async () => {
    const tokens = await login();
    const refresh = String(tokens.body.refresh_token);
    assert.deepEqual(await introspect(server, 'gateway', refresh), { active: false }, 'a gateway must not accept a refresh token');
    const own = await introspect(server, 'app', refresh);
    assert.equal(own.active, true);
    assert.equal(own.token_type, 'refresh_token');
    assert.equal(own.client_id, 'app');
    assert.equal(own.sub, alice.id);
  });

  it('an access token is active to a gateway, with token_type Bearer and the user as sub', async () => {
    const tokens = await login();
    const info = await introspect(server, 'gateway', String(tokens.body.access_token));
    assert.equal(info.active, true);
    assert.equal(info.token_type, 'Bearer');
    assert.equal(info.sub, alice.id);
    assert.equal(info.client_id, 'app');
  });

  it('an application token (client_credentials) carries sub = client_id, as its JWT form does', async () => {
    const app = await tokenRequest(server, 'app', { grant_type: 'client_credentials' });
    assert.equal(app.status, 200);
    const info = await introspect(server, 'gateway', String(app.body.access_token));
    assert.equal(info.active, true);
    assert.equal(info.sub, 'app');
    assert.equal(info.client_id, 'app');
    assert.equal(info.token_type, 'Bearer');
  });

  it('revoking an access token ends its whole grant, refresh token included (oidc-provider; RFC 7009 section 2.1)', async () => {
    const tokens = await login();
    assert.equal((await tokenRequest(server, 'app', { token: String(tokens.body.access_token) }, { path: '/revoke' })).status, 200);
    assert.deepEqual(await introspect(server, 'app', String(tokens.body.refresh_token)), { active: false });
    const refreshed = await tokenRequest(server, 'app', { grant_type: 'refresh_token', refresh_token: String(tokens.body.refresh_token) });
    assert.equal(refreshed.body.error, 'invalid_grant');
  });

  it('a public client cannot introspect another client\'s access token', async () => {
    const tokens = await login();
    const res = await fetch(`${server.issuer}/introspect`, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: 'spa', token: String(tokens.body.access_token) }),
    });
    assert.deepEqual(await res.json(), { active: false });
  });
});
