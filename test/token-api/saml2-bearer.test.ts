import assert from 'node:assert/strict';
import { startStepgate, type TestServer } from '../support/server.ts';
import { addClient, addUser, totpCode } from '../support/fixtures.ts';
import { SAML2_BEARER_GRANT } from '../../server/grants/saml2-bearer.ts';
import { introspect, tokenRequest } from './support.ts';
import { stepgateCli } from './cli.ts';
import { assertionXml, CERT_FILE, encode, fields, IDP_ISSUER, KEYS, sign, type AssertionFields } from './saml-assertions.ts';

describe('token API: SAML2 bearer grant (RFC 7522)', function () {
  this.timeout(30_000);
  let server: TestServer;
  let alice: Awaited<ReturnType<typeof addUser>>;

  before(async () => {
    server = await startStepgate();
    alice = await addUser(server, 'alice');
    const grants = ['refresh_token', SAML2_BEARER_GRANT];
    await addClient(server, 'sp', 'password', { grants });
    await addClient(server, 'sp-mfa', 'password,totp', { grants });
    await addClient(server, 'no-saml', 'password', { grants: ['password'] });
    const added = await stepgateCli(server, ['saml-idp', 'add', 'corp', '--issuer', IDP_ISSUER, '--cert-file', CERT_FILE]);
    assert.equal(added.code, 0, added.stderr);
    // A second trusted IdP, so that one IdP's key cannot speak for another.
    await server.stepgate.samlIdps.add({ name: 'partner', issuer: 'https://partner.example/saml', certificate: KEYS.attacker.cert });
    // Trust is per client: both SAML clients accept "corp" only.
    for (const client of ['sp', 'sp-mfa']) {
      const allowed = await stepgateCli(server, ['client', 'update', client, '--saml-idps', 'corp']);
      assert.equal(allowed.code, 0, allowed.stderr);
    }
  });
  after(async () => server.stop());

  const exchange = (assertion: string, clientId = 'sp', extra: Record<string, string> = {}) =>
    tokenRequest(server, clientId, { grant_type: SAML2_BEARER_GRANT, assertion, scope: 'openid', ...extra });
  const signed = (overrides: Partial<AssertionFields> = {}, key = KEYS.idp) => sign(assertionXml(fields(server.issuer, overrides)), key);
  const refused = async (assertion: string, reason: RegExp, clientId = 'sp') => {
    const res = await exchange(assertion, clientId);
    assert.equal(res.status, 400, JSON.stringify(res.body));
    assert.equal(res.body.error, 'invalid_grant');
    assert.match(String(res.body.error_description), reason);
  };

  it('exchanges a signed assertion for tokens for the user its NameID names', async () => {
    const res = await exchange(encode(signed()));
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const info = await introspect(server, 'sp', String(res.body.access_token));
    assert.equal(info.active, true);
    assert.equal(info.sub, alice.id);
    const claims = JSON.parse(Buffer.from(String(res.body.id_token).split('.')[1]!, 'base64url').toString()) as { amr: string[]; acr: string };
    assert.deepEqual(claims.amr, ['fed']);
    assert.equal(claims.acr, 'urn:stepgate:acr:single-step');
  });

  it('accepts the issuer as the audience too', async () => {
    assert.equal((await exchange(encode(signed({ audience: server.issuer })))).status, 200);
  });

  it('refuses a replayed assertion, also when the copies race', async () => {
    const once = encode(signed());
    assert.equal((await exchange(once)).status, 200);
    await refused(once, /already been used/);
    const racing = encode(signed());
    const results = await Promise.all([exchange(racing), exchange(racing), exchange(racing)]);
    assert.equal(results.filter((r) => r.status === 200).length, 1);
  });

  it('refuses an unsigned assertion', async () => {
    await refused(encode(assertionXml(fields(server.issuer))), /not signed/);
  });

  it('refuses a bad signature: content changed after signing', async () => {
    await refused(encode(signed().replace('>alice<', '>bob<')), /signature is invalid/);
  });

  it('refuses a signature by a key the issuer does not own (untrusted key, or another trusted IdP\'s key)', async () => {
    await refused(encode(signed({}, KEYS.attacker)), /signature is invalid/);
  });

  it('refuses a SHA-1 signature', async () => {
    await refused(encode(sign(assertionXml(fields(server.issuer)), KEYS.idp, '1')), /signature is invalid/);
  });

  it('refuses an assertion from an issuer that is not trusted', async () => {
    await refused(encode(signed({ issuer: 'https://evil.example/saml' })), /not a trusted identity provider/);
  });

  it('refuses a wrapped signature: a forged assertion around the genuine signed one', async () => {
    const genuine = signed({ nameId: 'nobody-important' });
    const signature = genuine.slice(genuine.indexOf('<Signature'), genuine.indexOf('</Signature>') + '</Signature>'.length);
    const forged = assertionXml(fields(server.issuer, { nameId: 'alice' }));
    // XSW: the forged assertion carries the genuine signature, and the genuine assertion
    // hides in its Advice so that the signature's reference still resolves.
    const wrapped = forged.replace('</saml:Issuer>', `</saml:Issuer>${signature}`)
      .replace('</saml:Assertion>', `<saml:Advice>${genuine}</saml:Advice></saml:Assertion>`);
    await refused(encode(wrapped), /exactly one Assertion/);
    // The same trick with the genuine assertion moved out of sight, under another element.
    const moved = forged.replace('</saml:Issuer>', `</saml:Issuer>${signature}`);
    await refused(encode(moved), /does not reference this assertion|signature is invalid/);
  });

  it('refuses a wrong audience', async () => {
    await refused(encode(signed({ audience: 'https://other-as.example/token' })), /audience/);
  });

  it('refuses an assertion with a second audience restriction we are not in (every restriction must be met)', async () => {
    const xml = assertionXml(fields(server.issuer)).replace('</saml:AudienceRestriction></saml:Conditions>',
      '</saml:AudienceRestriction><saml:AudienceRestriction><saml:Audience>https://other-as.example/token</saml:Audience></saml:AudienceRestriction></saml:Conditions>');
    await refused(encode(sign(xml, KEYS.idp)), /audience/);
  });

  it('refuses a validity time without a time zone', async () => {
    const xml = assertionXml(fields(server.issuer)).replace(/(<saml:Conditions NotBefore="[^"]+" NotOnOrAfter="[^"]+)Z"/, '$1"');
    await refused(encode(sign(xml, KEYS.idp)), /time zone/);
  });

  it('refuses an expired assertion, beyond the clock skew', async () => {
    const now = Math.floor(Date.now() / 1000);
    await refused(encode(signed({ notBefore: now - 900, notOnOrAfter: now - 120 })), /expired/);
  });

  it('refuses an assertion not yet valid, beyond the clock skew', async () => {
    const now = Math.floor(Date.now() / 1000);
    await refused(encode(signed({ notBefore: now + 300, notOnOrAfter: now + 900 })), /not yet valid/);
  });

  it('refuses a wrong Recipient', async () => {
    await refused(encode(signed({ recipient: 'https://other-as.example/token' })), /Recipient/);
  });

  it('refuses malformed input with invalid_grant, never a 500', async () => {
    await refused('%%%not base64%%%', /base64url/);
    await refused(encode('<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"><unclosed>'), /well-formed|not/);
    await refused(encode('<!DOCTYPE x [<!ENTITY a "b">]><x/>'), /DOCTYPE|well-formed/);
  });

  it('refuses an assertion naming no user of this server', async () => {
    await refused(encode(signed({ nameId: 'stranger' })), /no user/);
  });

  it('refuses an assertion from a trusted IdP this client does not accept, and from any IdP at a client that accepts none', async () => {
    const partner = sign(assertionXml(fields(server.issuer, { issuer: 'https://partner.example/saml' })), KEYS.attacker);
    await refused(encode(partner), /does not accept assertions from the SAML IdP "partner"/);
    await addClient(server, 'sp-none', 'password', { grants: ['refresh_token', SAML2_BEARER_GRANT] });
    await refused(encode(signed()), /does not accept/, 'sp-none');
    const unknown = await stepgateCli(server, ['client', 'update', 'sp', '--saml-idps', 'nobody']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /no trusted SAML IdP "nobody"/);
  });

  it('refuses an assertion naming an administrator', async () => {
    await addUser(server, 'root-admin', { roles: ['admin'] });
    await refused(encode(signed({ nameId: 'root-admin' })), /administrator/);
  });

  it('goes through the client chain: the assertion stands for the first step, a TOTP step still needs its code', async () => {
    const missing = await exchange(encode(signed()), 'sp-mfa');
    assert.equal(missing.status, 400);
    assert.match(String(missing.body.error_description), /totp/);
    const ok = await exchange(encode(signed()), 'sp-mfa', { totp: await totpCode(alice.totpSecret) });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    const claims = JSON.parse(Buffer.from(String(ok.body.id_token).split('.')[1]!, 'base64url').toString()) as { amr: string[] };
    // An assertion is a federated identity whose methods we were not told: only otp is a factor we saw, so no mfa.
    assert.deepEqual([...claims.amr].sort(), ['fed', 'otp']);
  });

  it('is refused for a client that was not given the grant', async () => {
    const res = await exchange(encode(signed()), 'no-saml');
    assert.equal(res.status, 400);
    assert.equal(res.body.error, 'invalid_request');
  });
});
