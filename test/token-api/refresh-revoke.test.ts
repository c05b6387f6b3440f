import assert from 'node:assert/strict';
import { startStepgate, type TestServer } from '../support/server.ts';
import { addClient, addUser, PASSWORD } from '../support/fixtures.ts';
import { introspect, tokenRequest } from './support.ts';

describe('token API: refresh scope rules, rotation with reuse detection, revoke and introspect', function () {
  this.timeout(30_000);
  let server: TestServer;

  before(async () => {
    server = await startStepgate();
    await addUser(server, 'alice', { totp: false });
    await addClient(server, 'app', 'password', { grants: ['password', 'refresh_token'] });
    await addClient(server, 'other', 'password', { grants: ['password', 'refresh_token'] });
    await server.stepgate.clients.update('app', { grantTypes: ['password', 'refresh_token'], settings: { scopes: ['read', 'update'] } });
  });
  after(async () => server.stop());

  const login = (scope = 'read update') => tokenRequest(server, 'app', { grant_type: 'password', username: 'alice', password: PASSWORD, scope });
  const refresh = (refreshToken: unknown, scope?: string) =>
    tokenRequest(server, 'app', { grant_type: 'refresh_token', refresh_token: String(refreshToken), ...(scope ? { scope } : {}) });

  it('scopes not registered for the client are left out of the token', async () => {
    const res = await login('read admin');
    assert.equal(res.status, 200);
    assert.equal(res.body.scope, 'read');
  });

  it('refresh may narrow the scope, later return to the granted scope, but never widen it', async () => {
    const full = await login();
    const onlyRead = await refresh(full.body.refresh_token, 'read');
    assert.equal(onlyRead.status, 200);
    assert.equal(onlyRead.body.scope, 'read');
    assert.equal((await introspect(server, 'app', String(onlyRead.body.access_token))).scope, 'read');
    const back = await refresh(onlyRead.body.refresh_token, 'read update');
    assert.equal(back.status, 200, 'the refresh token keeps the scope it was granted');
    assert.equal(back.body.scope, 'read update');

    const readOnly = await login('read');
    const widened = await refresh(readOnly.body.refresh_token, 'read update');
    assert.equal(widened.status, 400);
    assert.equal(widened.body.error, 'invalid_scope');
  });

  it('a reused refresh token fails and revokes the whole family (sequential)', async () => {
    const first = await login();
    const second = await refresh(first.body.refresh_token);
    assert.equal(second.status, 200);
    const reuse = await refresh(first.body.refresh_token);
    assert.equal(reuse.status, 400);
    assert.equal(reuse.body.error, 'invalid_grant');
    assert.equal((await introspect(server, 'app', String(second.body.access_token))).active, false, 'tokens from the rotated refresh token are gone');
    assert.equal((await refresh(second.body.refresh_token)).status, 400, 'so is the rotated refresh token');
  });

  it('two parallel uses of one refresh token: at most one wins, and the family is revoked', async () => {
    const first = await login();
    const results = await Promise.all([refresh(first.body.refresh_token), refresh(first.body.refresh_token), refresh(first.body.refresh_token)]);
    const won = results.filter((r) => r.status === 200);
    assert.ok(won.length <= 1, `${won.length} parallel refreshes succeeded`);
    assert.ok(results.some((r) => r.body.error === 'invalid_grant'));
    for (const r of won) {
      assert.equal((await introspect(server, 'app', String(r.body.access_token))).active, false, 'the winner\'s tokens are revoked with the family');
    }
  });

  it('/revoke and /introspect take the seeds\' form (token + Basic); another client cannot revoke a token and learns nothing', async () => {
    const mine = await login();
    const token = String(mine.body.access_token);
    const foreign = await tokenRequest(server, 'other', { token }, { path: '/revoke' });
    assert.equal(foreign.status, 200, 'RFC 7009: the same answer as a successful revocation');
    assert.equal((await introspect(server, 'app', token)).active, true, 'the token was not revoked');
    const foreignRefresh = await tokenRequest(server, 'other', { token: String(mine.body.refresh_token) }, { path: '/revoke' });
    assert.equal(foreignRefresh.status, 200);
    assert.equal((await refresh(mine.body.refresh_token)).status, 200, 'nor was the refresh token');

    const badSecret = await tokenRequest(server, 'app', { token }, { path: '/revoke', secret: 'not-the-secret-0000' });
    assert.equal(badSecret.status, 401);
    assert.equal(badSecret.body.error, 'invalid_client');

    const own = await tokenRequest(server, 'app', { token }, { path: '/revoke' });
    assert.equal(own.status, 200);
    const after = await introspect(server, 'app', token);
    assert.deepEqual(after, { active: false });
  });
});
