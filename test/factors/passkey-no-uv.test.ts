import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import * as oidc from 'openid-client';
import { isoBase64URL, isoCBOR } from '@simplewebauthn/server/helpers';
import { startStepgate, type TestServer } from '../support/server.ts';
import { Browser, type Page } from '../support/browser.ts';
import { addClient, addUser, beginLogin, relyingParty, RP_CALLBACK } from '../support/fixtures.ts';
import { defaults } from '../../config/defaults.ts';

/**
 * A passkey used with and without user verification, without a browser engine: the test is
 * its own authenticator (an ES256 key from node:crypto; CBOR by @simplewebauthn's helpers)
 * and answers the passkey step's form as navigator.credentials.get would. With user
 * verification a passkey alone is multi-factor (amr hwk user mfa); without it, only hwk,
 * and a broker that requires verification (the default) refuses it.
 */
class SoftAuthenticator {
  readonly credentialId = isoBase64URL.fromBuffer(randomBytes(16));
  readonly #key: KeyObject;
  readonly publicKey: string;
  #counter = 0;

  constructor() {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    this.#key = privateKey;
    const jwk = publicKey.export({ format: 'jwk' });
    // COSE_Key: kty EC2 (2), alg ES256 (-7), crv P-256 (1), x, y
    this.publicKey = isoBase64URL.fromBuffer(isoCBOR.encode(new Map<number, number | Uint8Array>([
      [1, 2], [3, -7], [-1, 1], [-2, isoBase64URL.toBuffer(jwk.x!)], [-3, isoBase64URL.toBuffer(jwk.y!)],
    ])));
  }

  /** The JSON navigator.credentials.get gives the page for `challenge` at `origin`. */
  assertion(origin: string, challenge: string, userId: string, userVerified: boolean): string {
    const clientData = Buffer.from(JSON.stringify({ type: 'webauthn.get', challenge, origin, crossOrigin: false }));
    const counter = Buffer.alloc(4);
    counter.writeUInt32BE(++this.#counter);
    // flags: user present (0x01), user verified (0x04)
    const authData = Buffer.concat([createHash('sha256').update(new URL(origin).hostname).digest(), Buffer.from([userVerified ? 0x05 : 0x01]), counter]);
    const signature = sign('sha256', Buffer.concat([authData, createHash('sha256').update(clientData).digest()]), this.#key);
    return JSON.stringify({
      id: this.credentialId, rawId: this.credentialId, type: 'public-key', clientExtensionResults: {},
      response: {
        authenticatorData: isoBase64URL.fromBuffer(authData), clientDataJSON: isoBase64URL.fromBuffer(clientData),
        signature: isoBase64URL.fromBuffer(signature), userHandle: isoBase64URL.fromBuffer(new TextEncoder().encode(userId)),
      },
    });
  }
}

describe('factors: passkeys with and without user verification (no browser)', function () {
  this.timeout(60_000);
  const servers: TestServer[] = [];
  after(async () => {
    for (const s of servers) await s.stop();
  });

  /** A broker with a "passkey" client and a user whose passkey is `authenticator` (registered without verification). */
  async function broker(userVerification: 'required' | 'preferred') {
    const server = await startStepgate({ overrides: { factors: { ...defaults.factors, passkeyUserVerification: userVerification } } });
    servers.push(server);
    const rp = await relyingParty(server, await addClient(server, 'pk', 'passkey'));
    const user = await addUser(server, 'nina', { totp: false });
    const authenticator = new SoftAuthenticator();
    await server.stepgate.credentials.addPasskey(user.id, {
      credentialId: authenticator.credentialId, publicKey: authenticator.publicKey, counter: 0, transports: ['internal'], backedUp: false, userVerified: false, label: 'Soft key',
    });
    return { server, rp, user, authenticator };
  }

  /** Signs in at the passkey-only client: the step's form answered by the soft authenticator. */
  async function passkeyLogin(b: Awaited<ReturnType<typeof broker>>, userVerified: boolean): Promise<{ page: Page; tokens?: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers }> {
    const browser = new Browser(RP_CALLBACK);
    const login = await beginLogin(b.rp);
    const form = await browser.go(login.url.href);
    const options = JSON.parse(form.$('form[data-passkey=get]').attr('data-options')!) as { challenge: string; userVerification: string };
    assert.equal(options.userVerification, b.server.config.factors.passkeyUserVerification, 'the browser is asked for what the broker requires');
    let page = await browser.submit(form, { response: b.authenticator.assertion(b.server.issuer, options.challenge, b.user.id, userVerified) }, /step/);
    if (page.$('button[value=allow]').length) page = await browser.submit(page, {}, /consent/, { name: 'decision', value: 'allow' });
    if (!page.location?.startsWith(RP_CALLBACK)) return { page };
    return { page, tokens: await oidc.authorizationCodeGrant(b.rp, new URL(page.location), { pkceCodeVerifier: login.verifier, expectedState: login.state }) };
  }

  it('verification "preferred": without user verification the passkey is hwk alone (no mfa); with it, hwk user mfa', async () => {
    const b = await broker('preferred');
    const plain = await passkeyLogin(b, false);
    assert.ok(plain.tokens, `signed in, got ${plain.page.status}: ${plain.page.$('.error').text()}`);
    assert.deepEqual(plain.tokens.claims()!.amr, ['hwk']);
    assert.equal(plain.tokens.claims()!.sub, b.user.id);
    const verified = await passkeyLogin(b, true);
    assert.deepEqual([...(verified.tokens!.claims()!.amr as string[])].sort(), ['hwk', 'mfa', 'user']);
    const [stored] = await b.server.stepgate.credentials.passkeys(b.user.id);
    assert.equal(stored!.counter, 2, 'each use moved the counter forward');
  });

  it('verification "required" (the default): a passkey used without verification is refused, with it accepted', async () => {
    const b = await broker('required');
    const refused = await passkeyLogin(b, false);
    assert.equal(refused.tokens, undefined);
    assert.equal(refused.page.status, 400);
    assert.match(refused.page.$('.error').text(), /not accepted: .*user could not be verified/i);
    const verified = await passkeyLogin(b, true);
    assert.deepEqual([...(verified.tokens!.claims()!.amr as string[])].sort(), ['hwk', 'mfa', 'user']);
  });
});
