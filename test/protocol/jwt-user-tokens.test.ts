import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import * as oidc from 'openid-client';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { startStepgate, type TestServer } from '../support/server.ts';
import { Browser } from '../support/browser.ts';
import { addClient, addUser, beginLogin, completeLogin, relyingParty, RP_CALLBACK } from '../support/fixtures.ts';
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
});
