import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { SignedXml } from 'xml-crypto';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/saml/${name}`, import.meta.url), 'utf8');

/**
 * Test signing keys, pinned PEM fixtures made once with
 * `openssl req -x509 -newkey rsa:2048 -nodes -days 36500 -subj "/CN=stepgate test idp"`.
 * `idp` is the trusted IdP; `attacker` is anyone else.
 */
export const KEYS = {
  idp: { key: fixture('idp.key'), cert: fixture('idp.crt') },
  attacker: { key: fixture('attacker.key'), cert: fixture('attacker.crt') },
};
export const CERT_FILE = new URL('../fixtures/saml/idp.crt', import.meta.url).pathname;
export const IDP_ISSUER = 'https://idp.example.org/saml2';

export type AssertionFields = {
  id: string;
  issuer: string;
  nameId: string;
  audience: string;
  recipient: string;
  notBefore: number;
  notOnOrAfter: number;
};

const iso = (epoch: number) => new Date(epoch * 1000).toISOString();

/** A SAML 2.0 assertion as an IdP's SSO would issue it, with a bearer confirmation. */
export function assertionXml(f: AssertionFields): string {
  return `<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="${f.id}" Version="2.0" IssueInstant="${iso(f.notBefore)}">`
    + `<saml:Issuer>${f.issuer}</saml:Issuer>`
    + `<saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified">${f.nameId}</saml:NameID>`
    + `<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">`
    + `<saml:SubjectConfirmationData NotOnOrAfter="${iso(f.notOnOrAfter)}" Recipient="${f.recipient}"/></saml:SubjectConfirmation></saml:Subject>`
    + `<saml:Conditions NotBefore="${iso(f.notBefore)}" NotOnOrAfter="${iso(f.notOnOrAfter)}">`
    + `<saml:AudienceRestriction><saml:Audience>${f.audience}</saml:Audience></saml:AudienceRestriction></saml:Conditions>`
    + `<saml:AuthnStatement AuthnInstant="${iso(f.notBefore)}"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>`
    + '</saml:Assertion>';
}

/** Signs the assertion (enveloped, exclusive c14n, RSA-SHA256 or, for `sha` '1', RSA-SHA1), the signature after <Issuer>. */
export function sign(xml: string, key: { key: string; cert: string }, sha = '256'): string {
  const sig = new SignedXml({
    privateKey: key.key, publicCert: key.cert,
    signatureAlgorithm: sha === '1' ? 'http://www.w3.org/2000/09/xmldsig#rsa-sha1' : 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
    canonicalizationAlgorithm: 'http://www.w3.org/2001/10/xml-exc-c14n#',
  });
  sig.addReference({
    xpath: "/*[local-name(.)='Assertion']",
    digestAlgorithm: sha === '1' ? 'http://www.w3.org/2000/09/xmldsig#sha1' : 'http://www.w3.org/2001/04/xmlenc#sha256',
    transforms: ['http://www.w3.org/2000/09/xmldsig#enveloped-signature', 'http://www.w3.org/2001/10/xml-exc-c14n#'],
  });
  sig.computeSignature(xml, { location: { reference: "/*[local-name(.)='Assertion']/*[local-name(.)='Issuer']", action: 'after' } });
  return sig.getSignedXml();
}

export const encode = (xml: string) => Buffer.from(xml, 'utf8').toString('base64url');

export function fields(issuer: string, overrides: Partial<AssertionFields> = {}): AssertionFields {
  const now = Math.floor(Date.now() / 1000);
  return {
    id: `_${randomBytes(16).toString('hex')}`, issuer: IDP_ISSUER, nameId: 'alice',
    audience: `${issuer}/token`, recipient: `${issuer}/token`, notBefore: now - 5, notOnOrAfter: now + 300, ...overrides,
  };
}
