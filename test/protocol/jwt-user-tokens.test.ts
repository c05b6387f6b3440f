import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import * as oidc from 'openid-client';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { startStepgate, type TestServer } from '../support/server.ts';
import { Browser } from '../support/browser.ts';
import { addClient, addUser, beginLogin, completeLogin, relyingParty, RP_CALLBACK, PASSWORD } from '../support/fixtures.ts';
import { tokenRequest, introspect } from '../token-api/support.ts';
import { createExampleApi } from '../../examples/protected-api.ts';

/** RFC 9068 user access tokens, per client: the code flow's access token is a JWT an API verifies alone. */
describe('protocol: JWT user access tokens (per client)', function () {
  this.timeout(30_000);
  let server: TestServer;
  let api: Server;

  before(async () => {
    server = await startStepgate();
    await addClient(server, 'jwt-web', 'password');
    await server.stepgate.clients.update('jwt-web', { grantTypes: ['authorization_code', 'refresh_token'], settings: { scopes: ['read'], userTokenFormat: 'jwt' } });
    await addClient(server, 'gateway', 'password', { grants: ['client_credentials'] });
    for (const [id, format] of [['jwt-mobile', 'jwt'], ['opaque-mobile', 'opaque']] as const) {
      await addClient(server, id, 'password', { grants: ['password', 'refresh_token'] });
      await server.stepgate.clients.update(id, { grantTypes: ['password', 'refresh_token'], settings: { scopes: ['read'], userTokenFormat: format } });
    }
    api = createExampleApi({ issuer: server.issuer, clientId: 'gateway', clientSecret: 'gateway-secret-0123456789' }).listen(0, '127.0.0.1');
    await new Promise((resolve) => api.once('listening', resolve));
  });
  after(async () => {
    await new Promise<void>((resolve) => api.close(() => resolve()));
    await server.stop();
  });

  it('code and refresh give at+jwt access tokens for the API, with the user as sub, that the API accepts', async () => {
    const alice = await addUser(server, 'alice', { totp: false });
    const rp = await relyingParty(server, { clientId: 'jwt-web', secret: 'jwt-web-secret-0123456789' });
    const start = await beginLogin(rp, { scope: 'openid read' });
    const back = await completeLogin(new Browser(RP_CALLBACK), start.url, alice);
    const tokens = await oidc.authorizationCodeGrant(rp, new URL(back.location!), { pkceCodeVerifier: start.verifier, expectedState: start.state });
    assert.equal(decodeProtectedHeader(tokens.access_token).typ, 'at+jwt');
    const { payload } = await jwtVerify(tokens.access_token, createRemoteJWKSet(new URL(`${server.issuer}/jwks`)), { issuer: server.issuer, audience: `${server.issuer}/api` });
    assert.equal(payload.sub, alice.id);
    assert.equal(payload.client_id, 'jwt-web');
    assert.equal(payload.scope, 'read');
    const menu = `http://127.0.0.1:${(api.address() as { port: number }).port}/pizza/1.0/menu`;
    assert.equal((await fetch(menu, { headers: { authorization: `Bearer ${tokens.access_token}` } })).status, 200);

    const refreshed = await oidc.refreshTokenGrant(rp, tokens.refresh_token!);
    assert.equal(decodeProtectedHeader(refreshed.access_token).typ, 'at+jwt', 'a refreshed token is a JWT too');
  });

  const verify = (token: string) => jwtVerify(token, createRemoteJWKSet(new URL(`${server.issuer}/jwks`)), { issuer: server.issuer, audience: `${server.issuer}/api`, typ: 'at+jwt' });
  const menu = () => `http://127.0.0.1:${(api.address() as { port: number }).port}/pizza/1.0/menu`;

  it('the password grant honours the client\'s format: a JWT for the API (and again on refresh) for a JWT client, opaque otherwise', async () => {
    const bob = await addUser(server, 'bob', { totp: false });
    const issued = await tokenRequest(server, 'jwt-mobile', { grant_type: 'password', username: 'bob', password: PASSWORD, scope: 'openid read device_phone' });
    assert.equal(issued.status, 200, JSON.stringify(issued.body));
    const access = String(issued.body.access_token);
    assert.equal(decodeProtectedHeader(access).typ, 'at+jwt');
    const { payload } = await verify(access);
    assert.equal(payload.sub, bob.id);
    assert.equal(payload.client_id, 'jwt-mobile');
    assert.equal(payload.scope, 'read', 'the API scopes, for the API');
    assert.equal((await fetch(menu(), { headers: { authorization: `Bearer ${access}` } })).status, 200, 'the API accepts it');
    assert.equal(typeof issued.body.id_token, 'string');

    const refreshed = await tokenRequest(server, 'jwt-mobile', { grant_type: 'refresh_token', refresh_token: String(issued.body.refresh_token) });
    assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body));
    assert.equal((await verify(String(refreshed.body.access_token))).payload.scope, 'read', 'a refreshed token is a JWT for the API too');

    const opaque = await tokenRequest(server, 'opaque-mobile', { grant_type: 'password', username: 'bob', password: PASSWORD, scope: 'openid read' });
    assert.equal(opaque.status, 200, JSON.stringify(opaque.body));
    assert.equal(String(opaque.body.access_token).split('.').length, 1, 'an opaque client still gets an opaque token');
    const active = await introspect(server, 'opaque-mobile', String(opaque.body.access_token));
    assert.equal(active.active, true);
    assert.equal(active.scope, 'openid read');
  });

  /**
   * oidc-provider 9 serves /userinfo only for access tokens it stored and that have no
   * audience (lib/actions/userinfo.js: "access token not found", "token audience prevents
   * accessing the userinfo endpoint"); a JWT access token is neither (never stored, always
   * for the API). No option changes that: for such clients the id_token carries the claims
   * of the granted scopes (oidc-provider puts them there when the access token has an audience).
   */
  it('/userinfo refuses a JWT user access token with invalid_token; the id_token carries the scope\'s claims instead', async () => {
    const carol = await addUser(server, 'carol', { totp: false });
    const rp = await relyingParty(server, { clientId: 'jwt-web', secret: 'jwt-web-secret-0123456789' });
    const start = await beginLogin(rp, { scope: 'openid email read' });
    const back = await completeLogin(new Browser(RP_CALLBACK), start.url, carol);
    const tokens = await oidc.authorizationCodeGrant(rp, new URL(back.location!), { pkceCodeVerifier: start.verifier, expectedState: start.state });
    const answer = await fetch(`${server.issuer}/userinfo`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    assert.equal(answer.status, 401);
    assert.match(answer.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
    assert.equal(tokens.claims()!.email, 'carol@example.org', 'the id_token carries the email scope\'s claims');

    const pw = await tokenRequest(server, 'jwt-mobile', { grant_type: 'password', username: 'carol', password: PASSWORD, scope: 'openid email read' });
    const fromPassword = await fetch(`${server.issuer}/userinfo`, { headers: { authorization: `Bearer ${String(pw.body.access_token)}` } });
    assert.equal(fromPassword.status, 401);
  });
});
