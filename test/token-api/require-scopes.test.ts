import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { startStepgate, freePort, type TestServer } from '../support/server.ts';
import { addClient, addUser, PASSWORD } from '../support/fixtures.ts';
import { createExampleApi } from '../../examples/protected-api.ts';
import { IntrospectionCache } from '../../server/api/introspection-cache.ts';
import type { RequireScopesOptions } from '../../server/api/index.ts';
import { introspect, tokenRequest } from './support.ts';
import { restoreClock, setClock } from './clock.ts';

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
    await server.stepgate.clients.update('brief', { grantTypes: ['password'], settings: { scopes: ['read'], userTokenTtl: 60 } });
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

  it('a refresh token is not an access token: 401 invalid_token', async () => {
    const api = await startApi();
    const issued = await tokenRequest(server, 'app', { grant_type: 'password', username: 'alice', password: PASSWORD, scope: 'read update' });
    const refresh = String(issued.body.refresh_token);
    assert.ok(refresh.length > 20, 'a refresh token was issued');
    const res = await call(`${api}/pizza/1.0/orders`, `Bearer ${refresh}`);
    assert.equal(res.status, 401);
    assert.equal(res.body.error, 'invalid_token');
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

  it('an expired token: 401 invalid_token, even when its active answer was cached (clock set, no waiting)', async () => {
    const api = await startApi({ cache: { maxSeconds: 600 } });
    const info = await tokenRequest(server, 'brief', { grant_type: 'password', username: 'alice', password: PASSWORD, scope: 'read' });
    const access = String(info.body.access_token);
    const exp = Number((await introspect(server, 'brief', access)).exp);
    try {
      setClock(exp - 1);
      assert.equal((await call(`${api}/pizza/1.0/menu`, `Bearer ${access}`, 'GET')).status, 200);
      setClock(exp);
      const res = await call(`${api}/pizza/1.0/menu`, `Bearer ${access}`, 'GET');
      assert.equal(res.status, 401);
      assert.equal(res.body.error, 'invalid_token');
    } finally {
      restoreClock();
    }
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

describe('requireScopes: JWT application tokens, verified locally', function () {
  this.timeout(30_000);
  let server: TestServer;
  let api: Server;
  let apiBase: string;

  before(async () => {
    server = await startStepgate();
    await addClient(server, 'jwt-backend', 'password', { grants: ['client_credentials'] });
    await server.stepgate.clients.update('jwt-backend', { grantTypes: ['client_credentials'], settings: { scopes: ['read'], appTokenFormat: 'jwt' } });
    await addClient(server, 'brief-jwt', 'password', { grants: ['client_credentials'] });
    await server.stepgate.clients.update('brief-jwt', { grantTypes: ['client_credentials'], settings: { scopes: ['read'], appTokenFormat: 'jwt', appTokenTtl: 1 } });
    // Wrong introspection credentials: a JWT passes only if it is checked locally.
    api = createExampleApi({ issuer: server.issuer, clientId: 'jwt-backend', clientSecret: 'not-the-secret-000000' }).listen(0, '127.0.0.1');
    await new Promise((resolve) => api.once('listening', resolve));
    apiBase = `http://127.0.0.1:${(api.address() as { port: number }).port}`;
  });
  after(async () => {
    await new Promise<void>((resolve) => api.close(() => resolve()));
    await server.stop();
  });

  const appToken = async (clientId: string) =>
    String((await tokenRequest(server, clientId, { grant_type: 'client_credentials', scope: 'read' })).body.access_token);
  const get = async (path: string, token: string, method = 'GET') => {
    const res = await fetch(`${apiBase}${path}`, { method, headers: { authorization: `Bearer ${token}` } });
    return { status: res.status, body: await res.json() as Record<string, unknown> };
  };

  it('a client set to JWT application tokens gets an RFC 9068 access token', async () => {
    const token = await appToken('jwt-backend');
    const header = JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()) as { typ: string };
    assert.equal(header.typ, 'at+jwt');
    const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { aud: string; scope: string };
    assert.equal(claims.aud, `${server.issuer}/api`);
    assert.equal(claims.scope, 'read');
  });

  it('valid: passes without introspection; under-scoped: 403', async () => {
    const token = await appToken('jwt-backend');
    assert.equal((await get('/pizza/1.0/menu', token)).status, 200);
    const order = await get('/pizza/1.0/orders', token, 'POST');
    assert.equal(order.status, 403);
    assert.equal(order.body.error, 'insufficient_scope');
  });

  it('tampered, foreign or expired JWTs: 401 invalid_token', async () => {
    const [h, p, sig] = (await appToken('jwt-backend')).split('.');
    const claims = JSON.parse(Buffer.from(p!, 'base64url').toString()) as Record<string, unknown>;
    const widened = Buffer.from(JSON.stringify({ ...claims, scope: 'read update' })).toString('base64url');
    assert.equal((await get('/pizza/1.0/orders', `${h}.${widened}.${sig}`, 'POST')).status, 401);

    const { SignJWT, generateKeyPair } = await import('jose');
    const { privateKey } = await generateKeyPair('RS256');
    const foreign = await new SignJWT({ scope: 'read update', client_id: 'x' }).setProtectedHeader({ alg: 'RS256', typ: 'at+jwt' })
      .setIssuer(server.issuer).setAudience(`${server.issuer}/api`).setIssuedAt().setExpirationTime('5m').sign(privateKey);
    assert.equal((await get('/pizza/1.0/orders', foreign, 'POST')).status, 401);

    const brief = await appToken('brief-jwt');
    const exp = Number((JSON.parse(Buffer.from(brief.split('.')[1]!, 'base64url').toString()) as { exp: number }).exp);
    while (Date.now() / 1000 < exp + 1) await sleep(100);
    const expired = await get('/pizza/1.0/menu', brief);
    assert.equal(expired.status, 401);
    assert.equal(expired.body.error, 'invalid_token');
  });
});
