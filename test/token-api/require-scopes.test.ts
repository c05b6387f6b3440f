import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { startStepgate, freePort, type TestServer } from '../support/server.ts';
import { addClient, addUser, PASSWORD } from '../support/fixtures.ts';
import { createExampleApi } from '../../examples/protected-api.ts';
import { IntrospectionCache } from '../../server/api/introspection-cache.ts';
import type { RequireScopesOptions } from '../../server/api/index.ts';
import { tokenRequest } from './support.ts';

describe('requireScopes: a scope-protected API validating stepgate tokens', function () {
  this.timeout(30_000);
  let server: TestServer;
  const apis: Server[] = [];

  before(async () => {
    server = await startStepgate();
    await addUser(server, 'alice', { totp: false });
    await addClient(server, 'app', 'password', { grants: ['password', 'refresh_token'] });
    await server.stepgate.clients.update('app', { grantTypes: ['password', 'refresh_token'], settings: { scopes: ['read', 'update'] } });
    await addClient(server, 'brief', 'password', { grants: ['password'] });
    await server.stepgate.clients.update('brief', { grantTypes: ['password'], settings: { scopes: ['read'], userTokenTtl: 1 } });
    await addClient(server, 'gateway', 'password', { grants: ['client_credentials'] });
    await addClient(server, 'backend', 'password', { grants: ['client_credentials'] });
    await server.stepgate.clients.update('backend', { grantTypes: ['client_credentials'], settings: { scopes: ['read'] } });
  });
  after(async () => {
    for (const api of apis) await new Promise<void>((resolve) => api.close(() => resolve()));
    await server.stop();
  });

  async function startApi(overrides: Partial<RequireScopesOptions> = {}): Promise<string> {
    const api = createExampleApi({ issuer: server.issuer, clientId: 'gateway', clientSecret: 'gateway-secret-0123456789', ...overrides }).listen(0, '127.0.0.1');
    apis.push(api);
    await new Promise((resolve) => api.once('listening', resolve));
    return `http://127.0.0.1:${(api.address() as { port: number }).port}`;
  }
  const token = async (clientId: string, scope: string) =>
    String((await tokenRequest(server, clientId, { grant_type: 'password', username: 'alice', password: PASSWORD, scope })).body.access_token);
  const call = async (url: string, bearer?: string, method = 'POST') => {
    const res = await fetch(url, { method, headers: bearer === undefined ? {} : { authorization: bearer } });
    return { status: res.status, challenge: res.headers.get('www-authenticate'), body: await res.json() as Record<string, unknown> };
  };

  it('a valid token with the scope passes, and the API sees who called', async () => {
    const api = await startApi();
    const res = await call(`${api}/pizza/1.0/orders`, `Bearer ${await token('app', 'read update')}`);
    assert.equal(res.status, 201);
    assert.equal(typeof res.body.by, 'string');
  });

  it('an application token (client_credentials) carries the client\'s registered API scopes, and only those', async () => {
    const api = await startApi();
    const app = await tokenRequest(server, 'backend', { grant_type: 'client_credentials', scope: 'read update openid' });
    assert.equal(app.status, 200, JSON.stringify(app.body));
    assert.equal(app.body.scope, 'read');
    assert.equal((await call(`${api}/pizza/1.0/menu`, `Bearer ${app.body.access_token}`, 'GET')).status, 200);
    assert.equal((await call(`${api}/pizza/1.0/orders`, `Bearer ${app.body.access_token}`)).status, 403);
    const elsewhere = await tokenRequest(server, 'backend', { grant_type: 'client_credentials', scope: 'read', resource: 'https://unknown.example/' });
    assert.equal(elsewhere.status, 400);
    assert.equal(elsewhere.body.error, 'invalid_target');
  });

  it('no token: 401, a bare Bearer challenge, invalid_token', async () => {
    const api = await startApi();
    const res = await call(`${api}/pizza/1.0/orders`);
    assert.equal(res.status, 401);
    assert.match(res.challenge ?? '', /^Bearer realm="/);
    assert.doesNotMatch(res.challenge ?? '', /error=/, 'RFC 6750 3.1: no error code without credentials');
    assert.equal(res.body.error, 'invalid_token');
    const malformed = await call(`${api}/pizza/1.0/orders`, 'Basic YTpi');
    assert.equal(malformed.status, 401);
    assert.match(malformed.challenge ?? '', /error="invalid_token"/);
  });

  it('an unknown token: 401 invalid_token', async () => {
    const api = await startApi();
    const res = await call(`${api}/pizza/1.0/orders`, 'Bearer not-a-token-of-ours');
    assert.equal(res.status, 401);
    assert.match(res.challenge ?? '', /error="invalid_token"/);
    assert.equal(res.body.error, 'invalid_token');
  });

  it('a token without the scope: 403 insufficient_scope naming the scope', async () => {
    const api = await startApi();
    const res = await call(`${api}/pizza/1.0/orders`, `Bearer ${await token('app', 'read')}`);
    assert.equal(res.status, 403);
    assert.match(res.challenge ?? '', /error="insufficient_scope".*scope="update"/);
    assert.equal(res.body.error, 'insufficient_scope');
  });

  it('a revoked token: 401 invalid_token', async () => {
    const api = await startApi({ cache: { maxSeconds: 0 } });
    const access = await token('app', 'read update');
    assert.equal((await call(`${api}/pizza/1.0/orders`, `Bearer ${access}`)).status, 201);
    await tokenRequest(server, 'app', { token: access }, { path: '/revoke' });
    const res = await call(`${api}/pizza/1.0/orders`, `Bearer ${access}`);
    assert.equal(res.status, 401);
    assert.equal(res.body.error, 'invalid_token');
  });

  it('an expired token: 401 invalid_token, even when its active answer was cached', async () => {
    const api = await startApi({ cache: { maxSeconds: 60 } });
    const info = await tokenRequest(server, 'brief', { grant_type: 'password', username: 'alice', password: PASSWORD, scope: 'read' });
    const access = String(info.body.access_token);
    const exp = Math.floor(Date.now() / 1000) + Number(info.body.expires_in);
    assert.equal((await call(`${api}/pizza/1.0/menu`, `Bearer ${access}`, 'GET')).status, 200);
    while (Date.now() / 1000 < exp + 1) await sleep(100);
    const res = await call(`${api}/pizza/1.0/menu`, `Bearer ${access}`, 'GET');
    assert.equal(res.status, 401);
    assert.equal(res.body.error, 'invalid_token');
  });

  it('the broker unreachable: 503, never a pass', async () => {
    const api = await startApi({ issuer: `http://127.0.0.1:${await freePort()}` });
    const res = await call(`${api}/pizza/1.0/orders`, `Bearer ${await token('app', 'read update')}`);
    assert.equal(res.status, 503);
  });

  it('the introspection cache is bounded and never outlives a token', () => {
    const cache = new IntrospectionCache<string>({ maxEntries: 2, maxSeconds: 10 });
    cache.set('a', 'A', 100, undefined);
    cache.set('b', 'B', 100, 105);
    cache.set('c', 'C', 100, undefined);
    assert.equal(cache.size, 2);
    assert.equal(cache.get('a', 101), undefined, 'the oldest entry went first');
    assert.equal(cache.get('b', 104), 'B');
    assert.equal(cache.get('b', 105), undefined, 'not past the token expiry');
    assert.equal(cache.get('c', 110), undefined, 'not past maxSeconds');
  });
});
