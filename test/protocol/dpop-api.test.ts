import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import * as oidc from 'openid-client';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { startStepgate, type TestServer } from '../support/server.ts';
import { addClient } from '../support/fixtures.ts';
import { createExampleApi } from '../../examples/protected-api.ts';

/** requireScopes with DPoP-bound tokens (RFC 9449): the token opens the API only with a proof of its key. */
describe('protocol: DPoP-bound tokens at a scope-protected API', function () {
  this.timeout(30_000);
  let server: TestServer;
  let api: Server;
  let menu: string;
  let keys: CryptoKeyPair;
  let token: string;

  const proof = async (opts: { key?: CryptoKeyPair; htu?: string; htm?: string; accessToken?: string; jti?: string } = {}) => {
    const pair = opts.key ?? keys;
    return new SignJWT({
      htm: opts.htm ?? 'GET', htu: opts.htu ?? menu, jti: opts.jti ?? randomUUID(),
      ath: createHash('sha256').update(opts.accessToken ?? token).digest('base64url'),
    }).setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: await exportJWK(pair.publicKey) }).setIssuedAt().sign(pair.privateKey);
  };
  const call = async (authorization: string, dpop?: string) => {
    const res = await fetch(menu, { headers: { authorization, ...(dpop ? { dpop } : {}) } });
    return { status: res.status, challenge: res.headers.get('www-authenticate') ?? '', body: await res.json() as Record<string, unknown> };
  };

  before(async () => {
    server = await startStepgate();
    await addClient(server, 'gateway', 'password', { grants: ['client_credentials'] });
    await addClient(server, 'backend', 'password', { grants: ['client_credentials'] });
    await server.stepgate.clients.update('backend', { grantTypes: ['client_credentials'], settings: { scopes: ['read'] } });
    api = createExampleApi({ issuer: server.issuer, clientId: 'gateway', clientSecret: 'gateway-secret-0123456789' }).listen(0, '127.0.0.1');
    await new Promise((resolve) => api.once('listening', resolve));
    menu = `http://127.0.0.1:${(api.address() as { port: number }).port}/pizza/1.0/menu`;
    keys = await generateKeyPair('ES256');
    const rp = await oidc.discovery(new URL(server.issuer), 'backend', 'backend-secret-0123456789', undefined, { execute: [oidc.allowInsecureRequests] });
    const tokens = await oidc.clientCredentialsGrant(rp, { scope: 'read' }, { DPoP: oidc.getDPoPHandle(rp, keys) });
    assert.equal(tokens.token_type.toLowerCase(), 'dpop');
    token = tokens.access_token;
  });
  after(async () => {
    await new Promise<void>((resolve) => api.close(() => resolve()));
    await server.stop();
  });

  it('passes with a proof of the bound key for this request', async () => {
    assert.equal((await call(`DPoP ${token}`, await proof())).status, 200);
  });

  it('is refused as a bearer token, or without a proof', async () => {
    const bearer = await call(`Bearer ${token}`);
    assert.equal(bearer.status, 401);
    assert.match(bearer.challenge, /^DPoP .*error="invalid_token"/);
    const noProof = await call(`DPoP ${token}`);
    assert.equal(noProof.status, 401);
    assert.equal(noProof.body.error, 'invalid_dpop_proof');
  });

  it('refuses a replayed proof, and proofs for another URL, method, token or key', async () => {
    const once = await proof();
    assert.equal((await call(`DPoP ${token}`, once)).status, 200);
    assert.equal((await call(`DPoP ${token}`, once)).body.error, 'invalid_dpop_proof', 'replay');
    assert.equal((await call(`DPoP ${token}`, await proof({ htu: `${menu}/other` }))).body.error, 'invalid_dpop_proof');
    assert.equal((await call(`DPoP ${token}`, await proof({ htm: 'POST' }))).body.error, 'invalid_dpop_proof');
    assert.equal((await call(`DPoP ${token}`, await proof({ accessToken: 'another-token' }))).body.error, 'invalid_dpop_proof');
    assert.equal((await call(`DPoP ${token}`, await proof({ key: await generateKeyPair('ES256') }))).body.error, 'invalid_dpop_proof');
  });
});
