import { createHash } from 'node:crypto';
import type { Context, Middleware, Next } from 'koa';
import { createRemoteJWKSet, errors as jose, jwtVerify } from 'jose';
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

/** `anonymous`: the request had no credentials, so the challenge carries no error code (RFC 6750 section 3.1). */
type Failure = { status: 401 | 403 | 503; error: string; description: string; scope?: string; anonymous?: true };

const MISSING = 'Required OAuth credentials not provided. Make sure your API invocation call has a header: "Authorization: Bearer ACCESS_TOKEN"';
const BEARER = /^Bearer ([A-Za-z0-9\-._~+/]+=*)$/i;

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
 * /jwks. On success `ctx.state.token` holds the token's claims.
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
    // Only access tokens open an API: a refresh token introspects as active too (without a
    // token_type), and must not stand in for the short-lived access token.
    if (answer.active !== true || answer.token_type !== 'Bearer' || (typeof answer.exp === 'number' && answer.exp <= now)) {
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

  function refuse(ctx: Context, failure: Failure): void {
    const params = [`realm=${quote(realm)}`];
    if (!failure.anonymous) params.push(`error=${quote(failure.error)}`, `error_description=${quote(failure.description)}`);
    if (failure.scope) params.push(`scope=${quote(failure.scope)}`);
    if (failure.status !== 503) ctx.set('WWW-Authenticate', `Bearer ${params.join(', ')}`);
    ctx.set('Cache-Control', 'no-store');
    ctx.status = failure.status;
    ctx.body = { error: failure.error, error_description: failure.description, ...(failure.scope ? { scope: failure.scope } : {}) };
  }

  return function requireScopes(...scopes: string[]): Middleware {
    const needed = scopes.join(' ');
    return async function checkBearerToken(ctx: Context, next: Next) {
      const header = ctx.get('authorization');
      if (!header) return refuse(ctx, { status: 401, error: 'invalid_token', description: MISSING, anonymous: true });
      const match = BEARER.exec(header);
      if (!match) return refuse(ctx, { status: 401, error: 'invalid_token', description: 'the Authorization header must be "Bearer <access token>"' });
      const token = match[1]!;
      const result = token.split('.').length === 3 ? await verifyJwt(token) : await introspect(token);
      if (!('active' in result)) return refuse(ctx, result);
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
