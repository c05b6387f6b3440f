import { DOMParser, onErrorStopParsing } from '@xmldom/xmldom';
import { SignedXml } from 'xml-crypto';

const SAML = 'urn:oasis:names:tc:SAML:2.0:assertion';
const DSIG = 'http://www.w3.org/2000/09/xmldsig#';
const BEARER = 'urn:oasis:names:tc:SAML:2.0:cm:bearer';
/** Assertions are small; anything bigger is refused before it is parsed. */
const MAX_BYTES = 64 * 1024;

/** Why an assertion is refused; the message is safe to show the client. */
export class AssertionError extends Error {}

/** What the broker needs to know to judge an assertion. */
export type Expectations = {
  /** the trusted IdPs' signing certificates, by entityID */
  certificateFor(issuer: string): Promise<string | undefined>;
  /** identities of this authorization server an Audience may name (token endpoint, issuer) */
  audiences: string[];
  /** the token endpoint, which a bearer SubjectConfirmationData's Recipient must name */
  recipient: string;
  /** clock skew tolerated on NotBefore / NotOnOrAfter, in seconds */
  skewSeconds: number;
  now?: number;
};

/** An assertion whose signature, issuer, audience, recipient and times all checked out. */
export type VerifiedAssertion = { id: string; issuer: string; nameId: string; expiresAt: number };

type El = Element;

function parse(xml: string): Document {
  const doc = new DOMParser({ onError: onErrorStopParsing }).parseFromString(xml, 'text/xml') as unknown as Document;
  if (doc.doctype) throw new AssertionError('assertion must not contain a DOCTYPE');
  return doc;
}

function children(el: El, ns: string, name: string): El[] {
  const out: El[] = [];
  for (let n = el.firstChild; n; n = n.nextSibling) {
    if (n.nodeType === 1 && (n as El).namespaceURI === ns && (n as El).localName === name) out.push(n as El);
  }
  return out;
}

function only(el: El, ns: string, name: string): El {
  const found = children(el, ns, name);
  if (found.length !== 1) throw new AssertionError(`assertion must have exactly one ${name}`);
  return found[0]!;
}

function time(el: El, attribute: string): number | undefined {
  const value = el.getAttribute(attribute);
  if (value === null || value === '') return undefined;
  const ms = Date.parse(value);
  // SAML times are UTC; a time without a zone would be read in the server's local time.
  if (!/^\d{4}-\d\d-\d\dT[^Z+-]*(Z|[+-]\d\d:\d\d)$/.test(value) || Number.isNaN(ms)) throw new AssertionError(`${el.localName} ${attribute} is not a date-time with a time zone`);
  return Math.floor(ms / 1000);
}

function decode(encoded: string): string {
  if (encoded.length > (MAX_BYTES * 4) / 3 + 4) throw new AssertionError('assertion is too large');
  if (!/^[A-Za-z0-9_\-+/]+={0,2}$/.test(encoded)) throw new AssertionError('assertion must be base64url-encoded');
  return Buffer.from(encoded, 'base64url').toString('utf8');
}

/**
 * Checks the signature with xml-crypto against the trusted IdP's certificate, and reads
 * everything else only from what the signature covers. Against signature wrapping: the
 * document is exactly one Assertion, its one Signature is its own child, that signature
 * has exactly one Reference and it names the Assertion's ID, and the claims are read
 * from xml-crypto's canonical copy of the signed element, never from the document sent.
 */
function verifySignature(xml: string, certificate: string): El {
  const doc = parse(xml);
  const root = doc.documentElement;
  if (!root || root.namespaceURI !== SAML || root.localName !== 'Assertion') throw new AssertionError('document is not a SAML 2.0 Assertion');
  if (doc.getElementsByTagNameNS(SAML, 'Assertion').length !== 1) throw new AssertionError('document must contain exactly one Assertion');
  const signatures = doc.getElementsByTagNameNS(DSIG, 'Signature');
  if (signatures.length === 0) throw new AssertionError('assertion is not signed');
  if (signatures.length !== 1 || signatures[0]!.parentNode !== root) throw new AssertionError('assertion must carry exactly one signature, as its own child');
  const id = root.getAttribute('ID');
  if (!id) throw new AssertionError('assertion has no ID');

  const signature = signatures[0]!;
  const references = only(only(signature, DSIG, 'SignedInfo'), DSIG, 'Reference');
  if (references.getAttribute('URI') !== `#${id}`) throw new AssertionError('the signature does not reference this assertion');

  const verifier = new SignedXml({ publicCert: certificate, getCertFromKeyInfo: () => null });
  // SHA-1 is refused for signatures and digests alike (HMAC is off in xml-crypto already).
  delete verifier.SignatureAlgorithms['http://www.w3.org/2000/09/xmldsig#rsa-sha1'];
  delete verifier.HashAlgorithms['http://www.w3.org/2000/09/xmldsig#sha1'];
  let valid = false;
  try {
    verifier.loadSignature(signature as unknown as Node);
    valid = verifier.checkSignature(xml);
  } catch {
    valid = false;
  }
  if (!valid) throw new AssertionError('assertion signature is invalid');
  const signed = verifier.getSignedReferences();
  if (signed.length !== 1) throw new AssertionError('the signature must cover exactly the assertion');
  const assertion = parse(signed[0]!).documentElement;
  if (!assertion || assertion.namespaceURI !== SAML || assertion.localName !== 'Assertion' || assertion.getAttribute('ID') !== id) {
    throw new AssertionError('the signed element is not the assertion');
  }
  return assertion;
}

/**
 * RFC 7522 section 3: a SAML 2.0 bearer assertion is accepted only when a trusted IdP
 * signed it, it names this server as its audience and its bearer confirmation's
 * recipient as this token endpoint, and it is within its validity window.
 */
export default async function verifyAssertion(encoded: string, expect: Expectations): Promise<VerifiedAssertion> {
  const xml = decode(encoded);
  const unverified = parse(xml).documentElement;
  if (!unverified || unverified.namespaceURI !== SAML || unverified.localName !== 'Assertion') throw new AssertionError('document is not a SAML 2.0 Assertion');
  const claimedIssuer = only(unverified, SAML, 'Issuer').textContent?.trim() ?? '';
  const certificate = await expect.certificateFor(claimedIssuer);
  if (!certificate) throw new AssertionError('assertion issuer is not a trusted identity provider');

  const assertion = verifySignature(xml, certificate);
  const issuer = only(assertion, SAML, 'Issuer').textContent?.trim() ?? '';
  if (issuer !== claimedIssuer) throw new AssertionError('assertion issuer is not a trusted identity provider');

  const now = expect.now ?? Math.floor(Date.now() / 1000);
  const skew = expect.skewSeconds;
  const deadlines: number[] = [];
  const inWindow = (el: El) => {
    const notBefore = time(el, 'NotBefore');
    const notOnOrAfter = time(el, 'NotOnOrAfter');
    if (notBefore !== undefined && now + skew < notBefore) throw new AssertionError('assertion is not yet valid');
    if (notOnOrAfter !== undefined) {
      if (now - skew >= notOnOrAfter) throw new AssertionError('assertion has expired');
      deadlines.push(notOnOrAfter);
    }
  };

  const conditions = only(assertion, SAML, 'Conditions');
  inWindow(conditions);
  // Each AudienceRestriction must be met (SAML core 2.5.1.4): we must be among the
  // audiences of every one of them, and there must be at least one.
  const restrictions = children(conditions, SAML, 'AudienceRestriction').map((r) => children(r, SAML, 'Audience').map((a) => a.textContent?.trim() ?? ''));
  if (restrictions.length === 0 || !restrictions.every((audiences) => audiences.some((a) => expect.audiences.includes(a)))) {
    throw new AssertionError('assertion audience is not this authorization server');
  }

  const subject = only(assertion, SAML, 'Subject');
  const nameId = only(subject, SAML, 'NameID').textContent?.trim() ?? '';
  if (!nameId) throw new AssertionError('assertion subject has no NameID');
  const bearer = children(subject, SAML, 'SubjectConfirmation').filter((c) => c.getAttribute('Method') === BEARER);
  if (bearer.length === 0) throw new AssertionError('assertion has no bearer subject confirmation');
  const confirmed = bearer.some((c) => {
    const [data] = children(c, SAML, 'SubjectConfirmationData');
    if (!data || data.getAttribute('Recipient') !== expect.recipient || time(data, 'NotOnOrAfter') === undefined) return false;
    inWindow(data);
    return true;
  });
  if (!confirmed) throw new AssertionError('assertion bearer confirmation must name this token endpoint as Recipient and carry NotOnOrAfter');

  return { id: assertion.getAttribute('ID')!, issuer, nameId, expiresAt: Math.max(...deadlines) + skew };
}
