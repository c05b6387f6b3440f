import type {
  AuthenticationResponseJSON, RegistrationResponseJSON, VerifiedAuthenticationResponse, VerifiedRegistrationResponse,
} from '@simplewebauthn/server';
import type { Credentials, Passkey } from '../../server/storage/credentials.ts';

/**
 * @simplewebauthn/server, loaded at the first ceremony: the CLI (which builds every
 * authenticator) and a server whose users never use a passkey do not pay its start-up.
 */
let library: Promise<typeof import('@simplewebauthn/server')> | undefined;
const webauthn = () => (library ??= import('@simplewebauthn/server'));

/** base64url without padding, as WebAuthn and the credentials table write it */
const toBase64Url = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url');
const fromBase64Url = (text: string) => new Uint8Array(Buffer.from(text, 'base64url'));

/** Why a passkey was not accepted, in words for the person at the browser. */
export class PasskeyError extends Error {}

/**
 * The two WebAuthn ceremonies, done by @simplewebauthn/server (CBOR, attestation and
 * signatures are its job). The relying party is this broker: RP id = the issuer's host,
 * the only accepted origin = the issuer's origin. Challenges are kept by the caller (the
 * login's server-side state, or the account page's pending change) and used once.
 */
export class PasskeyCeremonies {
  readonly #credentials: Credentials;
  readonly #rpId: string;
  readonly #origin: string;
  readonly #uvRequired: boolean;

  constructor(credentials: Credentials, issuer: string, userVerification: 'required' | 'preferred') {
    this.#credentials = credentials;
    this.#rpId = new URL(issuer).hostname;
    this.#origin = new URL(issuer).origin;
    this.#uvRequired = userVerification === 'required';
  }

  /**
   * RFC 8176 methods of a verified use: a hardware-bound key, and with user verification also
   * "user" and "mfa" — a passkey unlocked by PIN or biometrics is a multi-factor cryptographic
   * authenticator (NIST SP 800-63B), which plan() honours when a step's amr carries "mfa".
   */
  static amr(userVerified: boolean): string[] {
    return userVerified ? ['hwk', 'user', 'mfa'] : ['hwk'];
  }

  get userVerificationRequired(): boolean {
    return this.#uvRequired;
  }

  /** Options for navigator.credentials.create: a discoverable credential, none of the user's existing ones again. */
  async registrationOptions(user: { id: string; username: string }) {
    const existing = await this.#credentials.passkeys(user.id);
    return (await webauthn()).generateRegistrationOptions({
      rpName: 'stepgate', rpID: this.#rpId, userName: user.username, userID: new TextEncoder().encode(user.id),
      attestationType: 'none',
      excludeCredentials: existing.map((p) => ({ id: p.credentialId, transports: p.transports })),
      authenticatorSelection: { residentKey: 'required', userVerification: this.#uvRequired ? 'required' : 'preferred' },
    });
  }

  /** Verifies a registration and stores the passkey for `userId`. */
  async register(userId: string, json: string, expectedChallenge: string, label: string): Promise<{ userVerified: boolean }> {
    const response = parse<RegistrationResponseJSON>(json);
    const { verifyRegistrationResponse } = await webauthn();
    let result: VerifiedRegistrationResponse;
    try {
      result = await verifyRegistrationResponse({
        response, expectedChallenge, expectedOrigin: this.#origin, expectedRPID: this.#rpId, requireUserVerification: this.#uvRequired,
      });
    } catch (err) {
      throw new PasskeyError(`The passkey could not be registered: ${(err as Error).message}`);
    }
    if (!result.verified) throw new PasskeyError('The passkey could not be registered. Try again.');
    const { credential, credentialBackedUp, userVerified } = result.registrationInfo;
    const added = await this.#credentials.addPasskey(userId, {
      credentialId: credential.id, publicKey: toBase64Url(credential.publicKey), counter: credential.counter,
      transports: credential.transports ?? [], backedUp: credentialBackedUp, userVerified, label: label.trim().slice(0, 100) || 'Passkey',
    });
    if (!added) throw new PasskeyError('This passkey is already registered.');
    return { userVerified };
  }

  /** Options for navigator.credentials.get: any discoverable passkey (no user yet), or only this user's. */
  async authenticationOptions(userId: string | undefined) {
    const allow = userId ? await this.#credentials.passkeys(userId) : [];
    return (await webauthn()).generateAuthenticationOptions({
      rpID: this.#rpId, userVerification: this.#uvRequired ? 'required' : 'preferred',
      allowCredentials: allow.map((p) => ({ id: p.credentialId, transports: p.transports })),
    });
  }

  /**
   * Verifies an assertion. `userId`: the user identified by an earlier step, whose passkeys
   * alone are accepted. Returns the passkey's owner and whether the user was verified.
   */
  async authenticate(json: string, expectedChallenge: string, userId: string | undefined): Promise<{ userId: string; userVerified: boolean }> {
    const response = parse<AuthenticationResponseJSON>(json);
    const passkey: Passkey | undefined = typeof response.id === 'string' ? await this.#credentials.passkeyByCredentialId(response.id) : undefined;
    if (!passkey) throw new PasskeyError('This passkey is not registered here.');
    if (userId !== undefined && passkey.userId !== userId) throw new PasskeyError('This passkey belongs to another account.');
    // A discoverable credential names its user: it must be the passkey's owner.
    const handle = response.response?.userHandle;
    if (handle && handle !== toBase64Url(new TextEncoder().encode(passkey.userId))) throw new PasskeyError('This passkey belongs to another account.');
    const { verifyAuthenticationResponse } = await webauthn();
    let result: VerifiedAuthenticationResponse;
    try {
      result = await verifyAuthenticationResponse({
        response, expectedChallenge, expectedOrigin: this.#origin, expectedRPID: this.#rpId, requireUserVerification: this.#uvRequired,
        credential: { id: passkey.credentialId, publicKey: fromBase64Url(passkey.publicKey), counter: passkey.counter, transports: passkey.transports },
      });
    } catch (err) {
      throw new PasskeyError(`The passkey was not accepted: ${(err as Error).message}`);
    }
    if (!result.verified) throw new PasskeyError('The passkey was not accepted. Try again.');
    const { newCounter, credentialBackedUp, userVerified } = result.authenticationInfo;
    // Conditional on the counter read: a racing or replayed use of the same assertion loses.
    if (!(await this.#credentials.usePasskey(passkey, newCounter, credentialBackedUp))) throw new PasskeyError('This passkey was just used. Try again.');
    return { userId: passkey.userId, userVerified };
  }
}

function parse<T>(json: string): T {
  try {
    const value = JSON.parse(json) as unknown;
    if (value && typeof value === 'object' && !Array.isArray(value)) return value as T;
  } catch { /* handled below */ }
  throw new PasskeyError('Your browser did not send a passkey. Use a browser that supports passkeys, or choose another way to sign in.');
}
