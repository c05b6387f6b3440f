import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { startStepgate, type TestServer } from '../support/server.ts';
import { addUser, beginLogin, completeLogin, relyingParty, RP_CALLBACK } from '../support/fixtures.ts';
import { api, clientToken } from '../support/admin.ts';
import { Browser } from '../support/browser.ts';
import { Manage } from '../../server/manage/index.ts';

/**
 * Signing-key rotation seen from openid-client relying parties: ID tokens signed before a
 * rotation still verify against /jwks after it, new ones carry the new key, the running
 * broker picks the rotation up without a restart, and a client's chosen algorithm is used.
 */
describe('management: signing keys rotate without breaking issued tokens', function () {
  this.timeout(90_000);
  let server: TestServer;
  let token: string;
  let user: Awaited<ReturnType<typeof addUser>>;

  before(async () => {
    server = await startStepgate();
    token = await clientToken(server, 'automation', { adminApi: true });
    user = await addUser(server, 'alice', { totp: false });
    for (const [id, alg] of [['rs-app', 'RS256'], ['es-app', 'ES256'], ['ed-app', 'EdDSA']] as const) {
      const res = await api(server, 'POST', '/clients', { token, body: { client_id: id, client_secret: `${id}-secret-0123456789`, redirect_uris: [RP_CALLBACK], chain: 'password', id_token_signed_response_alg: alg } });
      assert.equal(res.status, 201, JSON.stringify(res.body));
    }
  });
  after(async () => server?.stop());

  async function idToken(clientId: string): Promise<string> {
    const rp = await relyingParty(server, { clientId, secret: `${clientId}-secret-0123456789` });
    const login = await beginLogin(rp, { scope: 'openid' });
    const last = await completeLogin(new Browser(RP_CALLBACK), login.url, user);
    const tokens = await oidc.authorizationCodeGrant(rp, new URL(last.location!), { pkceCodeVerifier: login.verifier, expectedState: login.state });
    return tokens.id_token!;
  }
  const published = async () => ((await (await fetch(`${server.issuer}/jwks`)).json()) as { keys: { kid: string; alg: string }[] }).keys;
  const verify = (jwt: string) => jwtVerify(jwt, createRemoteJWKSet(new URL(`${server.issuer}/jwks`)), { issuer: server.issuer });

  it('signs ID tokens with the algorithm each client chose', async () => {
    for (const [id, alg] of [['rs-app', 'RS256'], ['es-app', 'ES256'], ['ed-app', 'EdDSA']] as const) {
      const jwt = await idToken(id);
      assert.equal(decodeProtectedHeader(jwt).alg, alg, id);
      await verify(jwt);
    }
  });

  it('rotate: /jwks keeps the old keys, old ID tokens still verify, new ones use the new key; retiring early is refused', async () => {
    const before = await idToken('rs-app');
    const oldKid = decodeProtectedHeader(before).kid!;
    const rotated = await api(server, 'POST', '/keys/rotate', { token, body: {} });
    assert.equal(rotated.status, 201, JSON.stringify(rotated.body));
    const newKid = (rotated.body as { kid: string; alg: string }[]).find((k) => k.alg === 'RS256')!.kid;
    assert.notEqual(newKid, oldKid);

    // the running broker follows the database within seconds, no restart
    let keys = await published();
    for (let i = 0; i < 60 && !keys.some((x) => x.kid === newKid); i++) {
      await new Promise((r) => setTimeout(r, 250));
      keys = await published();
    }
    assert.ok(keys.some((k) => k.kid === newKid) && keys.some((k) => k.kid === oldKid), 'both keys are published');
    assert.equal(keys.length, 6, 'three algorithms, two keys each');
    await verify(before);
    assert.equal(decodeProtectedHeader(await idToken('rs-app')).kid, newKid);

    const early = await api(server, 'DELETE', `/keys/${oldKid}`, { token });
    assert.equal(early.status, 409);
    assert.match(early.body.error_description, /may still be valid: it can be retired from/);
    const signing = await api(server, 'DELETE', `/keys/${newKid}`, { token });
    assert.equal(signing.status, 409);
    assert.match(signing.body.error_description, /rotate first/);
    const listed = (await api(server, 'GET', '/keys', { token })).body as { kid: string; state: string }[];
    assert.deepEqual(listed.filter((k) => k.state === 'signing').length, 3);
    const [event] = await server.stepgate.audit.list({ kind: 'admin.keys.rotated' });
    assert.equal(event!.actor, 'api:automation');
  });

  it('retire after the overlap: the old key leaves /jwks, ID tokens it signed stop verifying, and the retirement is audited', async () => {
    const before = await idToken('rs-app');
    const oldKid = decodeProtectedHeader(before).kid!;
    const rotated = await api(server, 'POST', '/keys/rotate', { token, body: { alg: 'RS256' } });
    assert.equal(rotated.status, 201, JSON.stringify(rotated.body));
    // The overlap has passed: the supersession is moved back in time beyond it.
    const overlap = await new Manage(server.stepgate).keys.overlapSeconds();
    await server.stepgate.db.change('UPDATE signing_keys SET superseded_at = :at WHERE kid = :kid', { at: Date.now() - (overlap + 60) * 1000, kid: oldKid });
    const retired = await api(server, 'DELETE', `/keys/${oldKid}`, { token });
    assert.equal(retired.status, 204, JSON.stringify(retired.body));
    let keys = await published();
    for (let i = 0; i < 60 && keys.some((k) => k.kid === oldKid); i++) {
      await new Promise((r) => setTimeout(r, 250));
      keys = await published();
    }
    assert.ok(!keys.some((k) => k.kid === oldKid), 'the retired key is no longer published');
    await assert.rejects(verify(before), /no applicable key found|matching key/i, 'an ID token the retired key signed no longer verifies');
    assert.equal((await api(server, 'DELETE', `/keys/${oldKid}`, { token })).status, 404, 'retiring it again: not found');
    const [event] = await server.stepgate.audit.list({ kind: 'admin.keys.retired' });
    assert.equal(event!.subject, oldKid);
    assert.equal(event!.actor, 'api:automation');
  });
});
