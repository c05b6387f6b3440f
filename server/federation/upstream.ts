import * as oidc from 'openid-client';
import type { IdentityProvider } from './identity-providers.ts';
import { isLoopback } from './identity-providers.ts';
import type { StepError } from '../flow/contract.ts';
import { OutboundError, type Outbound } from '../security/outbound.ts';

/** What a federated login keeps between the redirect upstream and the callback. */
export type PendingLogin = { state: string; nonce: string; verifier: string };

/** A verified upstream login: the id_token's issuer and subject, and what else it said. */
export type UpstreamIdentity = { issuer: string; subject: string; acr?: string; amr?: string[]; claims: Record<string, unknown> };

/** An upstream failure, already phrased for the person in front of the browser. */
export class UpstreamError extends Error {
  readonly error: StepError;
  constructor(error: StepError) {
    super(error.message);
    this.error = error;
  }
}

/** The first wait after a failed discovery; it doubles with each failure in a row, up to the cache time. */
const FIRST_BACKOFF_MS = 10_000;

/**
 * openid-client configurations for the stored identity providers: discovery once per
 * provider version (cached, refetched after `cacheSeconds`). A failed discovery is not
 * retried before its backoff has passed (10 s, doubling, at most `cacheSeconds`): an
 * anonymous visitor reloading a login page cannot make the broker fetch again and again.
 * Every upstream request goes through the outbound policy (server/security/outbound.ts).
 */
export class UpstreamClients {
  readonly #cache = new Map<string, { at: number; config: Promise<oidc.Configuration> }>();
  readonly #failures = new Map<string, { until: number; backoffMs: number; error: unknown }>();
  readonly #outbound: Outbound;
  readonly #timeoutSeconds: number;
  readonly #cacheSeconds: number;
  /** our issuer: upstream callbacks are `<issuer>/federation/<name>/callback` */
  readonly #issuer: string;
  /** the cause of an upstream failure, for the logs (the user sees only UpstreamError's message) */
  readonly #log: (idpName: string, err: unknown) => void;

  constructor(options: { issuer: string; outbound: Outbound; timeoutSeconds: number; cacheSeconds: number; log?: (idpName: string, err: unknown) => void }) {
    this.#issuer = options.issuer;
    this.#outbound = options.outbound;
    this.#log = options.log ?? (() => {});
    this.#timeoutSeconds = options.timeoutSeconds;
    this.#cacheSeconds = options.cacheSeconds;
  }

  /** The one redirect URI to register at the upstream provider. */
  redirectUri(idpName: string): string {
    return `${this.#issuer}/federation/${idpName}/callback`;
  }

  async #configuration(idp: IdentityProvider): Promise<oidc.Configuration> {
    const key = `${idp.name}\n${idp.updatedAt}\n${idp.issuer}\n${idp.clientId}`;
    const cached = this.#cache.get(key);
    if (cached && Date.now() - cached.at < this.#cacheSeconds * 1000) return cached.config;
    const failed = this.#failures.get(key);
    if (failed && Date.now() < failed.until) throw failed.error;
    const server = new URL(idp.issuer);
    const config = oidc.discovery(server, idp.clientId, idp.clientSecret, oidc.ClientSecretPost(idp.clientSecret), {
      timeout: this.#timeoutSeconds,
      // Plain http only for a loopback stand-in (checkIssuer refuses it anywhere else).
      execute: server.protocol === 'http:' && isLoopback(server) ? [oidc.allowInsecureRequests] : [],
      // Discovery, JWKS, token: every later request of this configuration uses it too.
      [oidc.customFetch]: this.#outbound.fetch(idp),
    });
    this.#cache.set(key, { at: Date.now(), config });
    config.then(() => this.#failures.delete(key), (error: unknown) => {
      this.#cache.delete(key);
      const backoffMs = failed ? Math.min(failed.backoffMs * 2, this.#cacheSeconds * 1000) : FIRST_BACKOFF_MS;
      this.#failures.set(key, { until: Date.now() + backoffMs, backoffMs, error });
    });
    return config;
  }

  /** Where to send the browser: authorization code flow with PKCE, a fresh state and nonce. */
  async authorizationUrl(idp: IdentityProvider): Promise<{ url: URL; pending: PendingLogin }> {
    const config = await this.#configuration(idp).catch((err) => { throw this.#fail(idp, err, 'discovery'); });
    const pending = { state: oidc.randomState(), nonce: oidc.randomNonce(), verifier: oidc.randomPKCECodeVerifier() };
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: this.redirectUri(idp.name),
      scope: idp.scopes.join(' '),
      state: pending.state,
      nonce: pending.nonce,
      code_challenge: await oidc.calculatePKCECodeChallenge(pending.verifier),
      code_challenge_method: 'S256',
    });
    return { url, pending };
  }

  /**
   * Checks the callback (`query`) against `pending` — state, the issuer parameter, an
   * error from upstream — redeems the code with the PKCE verifier, and validates the
   * id_token (signature, issuer, audience, expiry, nonce). Claims named in `wanted` that the
   * id_token lacks are fetched from the provider's userinfo endpoint, when it has one
   * (many providers return profile claims only there).
   */
  async complete(idp: IdentityProvider, query: Record<string, string>, pending: PendingLogin, wanted: string[] = []): Promise<UpstreamIdentity> {
    try {
      const config = await this.#configuration(idp);
      const current = new URL(this.redirectUri(idp.name));
      for (const [k, v] of Object.entries(query)) current.searchParams.set(k, v);
      const tokens = await oidc.authorizationCodeGrant(config, current, {
        pkceCodeVerifier: pending.verifier, expectedState: pending.state, expectedNonce: pending.nonce, idTokenExpected: true,
      });
      let claims: Record<string, unknown> & { iss: string; sub: string } = tokens.claims()!;
      if (wanted.some((name) => claims[name] === undefined) && config.serverMetadata().userinfo_endpoint) {
        // the id_token's claims win: they are signed, and userinfo must name the same subject
        claims = { ...(await oidc.fetchUserInfo(config, tokens.access_token, claims.sub)), ...claims };
      }
      return {
        issuer: claims.iss, subject: claims.sub, claims,
        ...(typeof claims.acr === 'string' ? { acr: claims.acr } : {}),
        ...(Array.isArray(claims.amr) ? { amr: claims.amr.map(String) } : {}),
      };
    } catch (err) {
      throw this.#fail(idp, err);
    }
  }

  #fail(idp: IdentityProvider, err: unknown, stage?: 'discovery'): UpstreamError {
    if (!(err instanceof UpstreamError)) this.#log(idp.name, err);
    return describe(idp, err, stage);
  }
}

/**
 * What the log says about an upstream failure: the error's kind and message, and the
 * provider's own `error`, `error_description` and HTTP status when it answered with one.
 */
export function upstreamLogFields(err: unknown): Record<string, unknown> {
  const e = err as { name?: string; message?: string; code?: string; error?: unknown; error_description?: unknown; status?: unknown };
  return {
    name: e.name, message: e.message, code: e.code,
    ...(typeof e.error === 'string' ? { error: e.error } : {}),
    ...(typeof e.error_description === 'string' ? { error_description: e.error_description } : {}),
    ...(typeof e.status === 'number' ? { status: e.status } : {}),
  };
}

/**
 * Token endpoint errors that mean our own registration at the provider is wrong (client id,
 * secret, grant or redirect URI), not anything the person did (RFC 6749 section 5.2).
 */
const CONFIGURATION_ERRORS = new Set(['invalid_client', 'unauthorized_client', 'unsupported_grant_type', 'invalid_request', 'invalid_scope']);

/** Maps openid-client's and fetch's errors to what the user reads; the cause stays out of the page. */
function describe(idp: IdentityProvider, err: unknown, stage?: 'discovery'): UpstreamError {
  const name = idp.displayName;
  const misconfigured = (detail: string) => new UpstreamError({
    code: 'upstream_misconfigured',
    message: `${name} ${detail}. This is a configuration problem on our side, not something you did: use another way to sign in, and tell your administrator.`,
  });
  if (err instanceof UpstreamError) return err;
  const refused = err instanceof OutboundError ? err : (err as { cause?: unknown })?.cause instanceof OutboundError ? (err as { cause: OutboundError }).cause : undefined;
  if (refused && refused.code !== 'timeout') {
    return new UpstreamError({ code: 'upstream_refused', message: `${name} cannot be used from this server right now (its address or its answer was refused). Use another way to sign in, and tell an administrator.` });
  }
  if (stage === 'discovery' && !refused && !isNetworkError((err as { cause?: unknown }).cause) && !isNetworkError(err)) {
    return misconfigured('could not be used: its configuration (discovery metadata) could not be read or is not valid');
  }
  if (err instanceof oidc.AuthorizationResponseError) {
    if (err.error === 'access_denied') return new UpstreamError({ code: 'upstream_access_denied', message: `Sign-in at ${name} was cancelled or refused.` });
    return new UpstreamError({ code: 'upstream_error', message: `${name} could not sign you in (${err.error}).` });
  }
  if (err instanceof oidc.ResponseBodyError) {
    if (CONFIGURATION_ERRORS.has(err.error)) return misconfigured(`refused our own sign-in credentials (${err.error})`);
    return new UpstreamError({ code: 'upstream_rejected', message: `${name} did not accept this sign-in response (${err.error}). It may have been used already or taken too long: start again.` });
  }
  if (err instanceof oidc.ClientError && !isNetworkError(err.cause)) {
    return new UpstreamError({ code: 'upstream_invalid_response', message: `The answer from ${name} could not be verified, so it was not accepted.` });
  }
  return new UpstreamError({ code: 'upstream_unreachable', message: `${name} did not answer. Try again in a moment, or use another way to sign in.` });
}

function isNetworkError(cause: unknown): boolean {
  const name = (cause as { name?: string } | undefined)?.name;
  return cause instanceof TypeError || cause instanceof OutboundError || name === 'TimeoutError' || name === 'AbortError';
}
