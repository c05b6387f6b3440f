import { createHash } from 'node:crypto';
import type { Context, Middleware, Next } from 'koa';
import { calculateJwkThumbprint, createRemoteJWKSet, EmbeddedJWK, errors as jose, jwtVerify } from 'jose';
import { IntrospectionCache } from './introspection-cache.ts';

/** What an API learns about the caller once its token checked out (RFC 7662 fields). */
export type TokenInfo = {
  active: true;
  scope?: string;
  client_id?: string;
  sub?: string;
  exp?: number;
  iat?: number;
  token_type?: string;
  [claim: string]: unknown;
};

export type RequireScopesOptions = {
  /** the broker's issuer, e.g. https://login.example.com; introspection is `${issuer}/introspect` */
  issuer: string;
  /** a confidential client of the broker that the API introspects tokens with */
  clientId: string;
  clientSecret: string;
  /** bounded cache of introspection answers (default 1000 tokens, 10 s; maxSeconds 0 turns it off) */
  cache?: { maxEntries?: number; maxSeconds?: number };
  /** realm in WWW-Authenticate (default: the issuer) */
  realm?: string;
  /** the `aud` a JWT access token must carry (default `${issuer}/api`, stepgate's resource for application tokens) */
  audience?: string;
};

/**
 * `anonymous`: the request had no credentials, so the challenge carries no error code (RFC 6750 section 3.1).
 * `scheme`: the challenge's scheme (`DPoP` when a DPoP-bound token or its proof failed, RFC 9449 section 7.1).
 */
type Failure = { status: 401 | 403 | 503; error: string; description: string; scope?: string; anonymous?: true; scheme?: 'DPoP' };

const MISSING = 'Required OAuth credentials not provided. Make sure your API invocation call has a header: "Authorization: Bearer ACCESS_TOKEN"';
const AUTHORIZATION = /^(Bearer|DPoP) ([A-Za-z0-9\-._~+/]+=*)$/i;
/** how long a DPoP proof is accepted after its `iat`, and its `jti` remembered against replay */
const PROOF_SECONDS = 120;

function quote(value: string): string {
  return `"${value.replace(/["\\]/g, '')}"`;
}

/**
 * Builds `requireScopes(...scopes)`: Koa middleware that lets a request through only with
 * an active bearer token carrying every named scope, and answers like an API gateway
 * otherwise (RFC 6750 section 3): 401 + `WWW-Authenticate: Bearer ...` and
 * `{"error":"invalid_token"}` for a missing, unknown, expired or revoked token; 403 and
 * `insufficient_scope` for a token without a required scope. Opaque tokens (stepgate's
 * default: stored under a hash, revocable at once) are checked through introspection
 * (RFC 7662) with a small bounded cache; JWT access tokens (RFC 9068, application tokens
 * of a client set to `--app-token-format jwt`) are verified locally against the broker's
 * /jwks. A DPoP-bound token (RFC 9449: `cnf.jkt`) passes only as `Authorization: DPoP
 * <token>` with a fresh, unused proof of its key for this request (`DPoP` header).
 * On success `ctx.state.token` holds the token's claims.
 */
export function createRequireScopes(options: RequireScopesOptions): (...scopes: string[]) => Middleware {
  const endpoint = `${options.issuer}/introspect`;
  const credentials = `Basic ${Buffer.from(`${encodeURIComponent(options.clientId)}:${encodeURIComponent(options.clientSecret)}`).toString('base64')}`;
  const realm = options.realm ?? options.issuer;
  const cache = new IntrospectionCache<TokenInfo>({ maxEntries: options.cache?.maxEntries ?? 1000, maxSeconds: options.cache?.maxSeconds ?? 10 });

  async function introspect(token: string): Promise<TokenInfo | Failure> {
    const now = Math.floor(Date.now() / 1000);
    // Keyed by a hash: the cache never holds a usable token.
    const key = createHash('sha256').update(token).digest('base64url');
    const cached = cache.get(key, now);
    if (cached) return cached;
    let answer: Record<string, unknown>;
    try {
      const res = await fetch(endpoint, {
        method: 'POST',
        headers: { authorization: credentials, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: new URLSearchParams({ token, token_type_hint: 'access_token' }).toString(),
        signal: AbortSignal.timeout(5_000),
      });
      if (!res.ok) throw new Error(`introspection answered ${res.status}`);
      answer = await res.json() as Record<string, unknown>;
    } catch {
      return { status: 503, error: 'temporarily_unavailable', description: 'the token could not be checked right now; try again shortly' };
    }
    // Only access tokens open an API (token_type Bearer, or DPoP when bound to a key): a
    // refresh token must not stand in for the short-lived access token.
    if (answer.active !== true || (answer.token_type !== 'Bearer' && answer.token_type !== 'DPoP') || (typeof answer.exp === 'number' && answer.exp <= now)) {
      return { status: 401, error: 'invalid_token', description: 'the access token is invalid, expired or revoked' };
    }
    const info = answer as TokenInfo;
    cache.set(key, info, now, typeof info.exp === 'number' ? info.exp : undefined);
    return info;
  }

  const jwks = createRemoteJWKSet(new URL(`${options.issuer}/jwks`));
  const audience = options.audience ?? `${options.issuer}/api`;

  /** RFC 9068: signed by the broker, its issuer, `typ: at+jwt`, the API's audience, unexpired. */
  async function verifyJwt(token: string): Promise<TokenInfo | Failure> {
    try {
      const { payload } = await jwtVerify(token, jwks, { issuer: options.issuer, audience, typ: 'at+jwt', algorithms: ['RS256', 'ES256', 'EdDSA'] });
      return { ...payload, active: true, scope: typeof payload.scope === 'string' ? payload.scope : undefined } as TokenInfo;
    } catch (err) {
      if (err instanceof jose.JWKSTimeout || !(err instanceof jose.JOSEError)) {
        return { status: 503, error: 'temporarily_unavailable', description: 'the token could not be checked right now; try again shortly' };
      }
      return { status: 401, error: 'invalid_token', description: 'the access token is invalid or expired' };
    }
  }

  /** jti of the DPoP proofs seen lately, with when they stop being accepted anyway */
  const seenProofs = new Map<string, number>();

  /**
   * RFC 9449 section 7.1: a DPoP-bound token comes with a proof, signed by the key the token
   * is bound to, for this method and URL, for this token (`ath`), fresh and used once.
   */
  async function checkProof(ctx: Context, token: string, jkt: unknown): Promise<Failure | undefined> {
    const bad = (description: string): Failure => ({ status: 401, error: 'invalid_dpop_proof', description, scheme: 'DPoP' });
    const proof = ctx.get('dpop');
    if (!proof || proof.includes(',')) return bad('one DPoP proof header is required with a DPoP-bound token');
    let payload: Record<string, unknown>;
    let jwk: Record<string, unknown>;
    try {
      const verified = await jwtVerify(proof, EmbeddedJWK, { typ: 'dpop+jwt', algorithms: ['ES256', 'EdDSA', 'Ed25519', 'RS256', 'PS256'], maxTokenAge: PROOF_SECONDS, clockTolerance: 5 });
      payload = verified.payload;
      jwk = verified.protectedHeader.jwk as Record<string, unknown>;
    } catch {
      return bad('the DPoP proof is malformed, badly signed or too old');
    }
    const htu = `${ctx.protocol}://${ctx.host}${ctx.path}`;
    if (payload.htm !== ctx.method || payload.htu !== htu) return bad('the DPoP proof is for another request');
    if (payload.ath !== createHash('sha256').update(token).digest('base64url')) return bad('the DPoP proof is for another access token');
    if (await calculateJwkThumbprint(jwk) !== jkt) return bad('the DPoP proof is signed by another key than the token is bound to');
    const now = Math.floor(Date.now() / 1000);
    for (const [jti, until] of seenProofs) if (until <= now) seenProofs.delete(jti);
    if (typeof payload.jti !== 'string' || seenProofs.has(payload.jti)) return bad('the DPoP proof was used already');
    if (seenProofs.size >= 10_000) return { status: 503, error: 'temporarily_unavailable', description: 'too many requests; try again shortly' };
    seenProofs.set(payload.jti, now + PROOF_SECONDS + 5);
    return undefined;
  }

  function refuse(ctx: Context, failure: Failure): void {
    const params = [`realm=${quote(realm)}`];
    if (!failure.anonymous) params.push(`error=${quote(failure.error)}`, `error_description=${quote(failure.description)}`);
    if (failure.scope) params.push(`scope=${quote(failure.scope)}`);
    if (failure.status !== 503) ctx.set('WWW-Authenticate', `${failure.scheme ?? 'Bearer'} ${params.join(', ')}`);
    ctx.set('Cache-Control', 'no-store');
    ctx.status = failure.status;
    ctx.body = { error: failure.error, error_description: failure.description, ...(failure.scope ? { scope: failure.scope } : {}) };
  }

  return function requireScopes(...scopes: string[]): Middleware {
    const needed = scopes.join(' ');
    return async function checkBearerToken(ctx: Context, next: Next) {
      const header = ctx.get('authorization');
      if (!header) return refuse(ctx, { status: 401, error: 'invalid_token', description: MISSING, anonymous: true });
      const match = AUTHORIZATION.exec(header);
      if (!match) return refuse(ctx, { status: 401, error: 'invalid_token', description: 'the Authorization header must be "Bearer <access token>" or "DPoP <access token>"' });
      const dpop = match[1]!.toLowerCase() === 'dpop';
      const token = match[2]!;
      const result = token.split('.').length === 3 ? await verifyJwt(token) : await introspect(token);
      if (!('active' in result)) return refuse(ctx, dpop ? { ...result, scheme: 'DPoP' } : result);
      const jkt = (result.cnf as { jkt?: unknown } | undefined)?.jkt;
      // a token bound to a key is no bearer token: it is presented with a proof of that key
      if (jkt === undefined && dpop) return refuse(ctx, { status: 401, error: 'invalid_token', description: 'this access token is not DPoP-bound: present it as "Bearer <access token>"', scheme: 'DPoP' });
      if (jkt !== undefined && !dpop) return refuse(ctx, { status: 401, error: 'invalid_token', description: 'this access token is DPoP-bound: present it as "DPoP <access token>" with a DPoP proof', scheme: 'DPoP' });
      if (dpop) {
        const failure = await checkProof(ctx, token, jkt);
        if (failure) return refuse(ctx, failure);
      }
      const granted = new Set((result.scope ?? '').split(' '));
      const missing = scopes.filter((s) => !granted.has(s));
      if (missing.length > 0) {
        return refuse(ctx, { status: 403, error: 'insufficient_scope', description: `the access token lacks the scope${missing.length > 1 ? 's' : ''} ${missing.join(' ')}`, scope: needed });
      }
      ctx.state.token = result;
      await next();
    };
  };
}
