import { z } from 'zod';
import { parseChain, formatChain, ChainError, type AuthenticatorCatalog } from '../flow/chain.ts';
import { TOKEN_ENDPOINT_AUTH_METHODS, type ClientRecord, type ClientSettings } from '../storage/clients.ts';
import { SAML2_BEARER_GRANT } from '../grants/grant-types.ts';
import { brandColourProblem, logoProblem } from '../branding.ts';

/**
 * Every field of a client an admin can set, in one table: its validation (shared by the
 * API, the console, the CLI and the OpenAPI document), where it is stored and how it is
 * shown, and its CLI flag. Adding a client field is one entry here (plus, when the
 * provider must see it, a line in clientMetadata, server/storage/oidc-adapter.ts).
 */

export const GRANT_TYPES = ['authorization_code', 'refresh_token', 'client_credentials', 'password', SAML2_BEARER_GRANT] as const;
/** The JWS algorithms this broker holds keys for (server/provider/signing-keys.ts). */
export const SIGNING_ALGS = ['RS256', 'ES256', 'EdDSA'] as const;

/** Absolute http(s) URL or a private-use scheme ("com.example.app:/cb"), no fragment (RFC 6749 3.1.2). */
export const redirectUri = z.string().max(2000).superRefine((value, ctx) => {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    ctx.addIssue({ code: 'custom', message: `"${value}" is not an absolute URL` });
    return;
  }
  if (!['http:', 'https:'].includes(url.protocol) && !/^[a-z][a-z0-9+.-]*\.[a-z0-9+.-]+:$/.test(url.protocol)) {
    ctx.addIssue({ code: 'custom', message: `"${value}" must be http(s) or a private-use scheme like com.example.app:` });
  }
  if (url.hash) ctx.addIssue({ code: 'custom', message: `"${value}" must not have a fragment` });
});

const httpsUrl = z.string().max(2000).refine((value) => {
  try {
    return ['https:', 'http:'].includes(new URL(value).protocol);
  } catch {
    return false;
  }
}, 'must be an absolute http(s) URL');

/** Shown on the login pages: https only, like the pages themselves. */
const logoUrl = z.string().max(2000).superRefine((value, ctx) => {
  const problem = logoProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/** #rrggbb, dark enough for white text and for links on white (WCAG AA 4.5:1). */
const brandColour = z.string().superRefine((value, ctx) => {
  const problem = brandColourProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
}).describe('the login pages\' accent colour, #rrggbb with at least 4.5:1 contrast against white');

/** A JSON Web Key Set of public keys; the CLI gives it as JSON text. */
const jwks = z.preprocess((value) => {
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value) as unknown;
  } catch {
    return value;
  }
}, z.object({ keys: z.array(z.record(z.string(), z.unknown()).refine((k) => typeof k.kty === 'string' && k.d === undefined, 'each key needs a kty and must be public (no "d")')).min(1).max(10) }));

/** Seconds; negative means "never expires" and needs allow_non_expiring. */
const ttl = z.number().int().min(-1).max(10 * 365 * 24 * 3600).refine((n) => n !== 0, 'must not be 0 (negative: never expires)');

const unique = <T>(list: T[]) => new Set(list).size === list.length;

/** "saml2-bearer" is short for RFC 7522's URN. */
const grantType = z.string().transform((g) => (g === 'saml2-bearer' ? SAML2_BEARER_GRANT : g)).pipe(z.enum(GRANT_TYPES));

/**
 * A chain in either form — text ("password,totp") or JSON (a string or an object:
 * levels, conditions, maxAge, remember; README "Policies") — checked against the
 * authenticators this broker has, and stored as text whenever text can say it.
 */
export function chainText(catalog: AuthenticatorCatalog) {
  return z.union([z.string().max(8000), z.record(z.string(), z.unknown())]).superRefine((value, ctx) => {
    try {
      parseChain(value, catalog);
    } catch (err) {
      if (!(err instanceof ChainError)) throw err;
      ctx.addIssue({ code: 'custom', message: err.message });
    }
  }).transform((value) => formatChain(parseChain(value, catalog)))
    .describe('steps separated by ",", alternatives inside a step by "|", e.g. "password,totp"; or the JSON form {"steps":[{"options":["password"]},{"options":["totp"],"level":2}],"levels":{...}}');
}

/** How the CLI takes a field: a text, a list (repeatable, and comma or space separated), --x/--no-x, or a whole number. */
export type CliKind = 'text' | 'list' | 'bool' | 'int';

type Field<S extends z.ZodType = z.ZodType> = {
  schema: S;
  /** the value when a client is created without it */
  default?: z.input<S>;
  /** must be given at creation */
  required?: true;
  read(c: ClientRecord): unknown;
  /** `null` clears a stored setting (its default applies again) */
  write(c: ClientRecord, value: z.output<S> | null): void;
  cli: { flag: string; kind: CliKind; help: string };
};

const field = <S extends z.ZodType>(f: Field<S>): Field<S> => f;

/** A setting stored in the client's settings, shown as `fallback` when unset. */
function setting<K extends keyof ClientSettings, S extends z.ZodType>(key: K, schema: S, cli: Field['cli'], fallback: unknown = null): Field<S> {
  return field({
    schema,
    read: (c) => c.settings[key] ?? fallback,
    write: (c, value) => {
      if (value === null) delete c.settings[key];
      else c.settings[key] = value as ClientSettings[K];
    },
    cli,
  });
}

export function clientFields(catalog: AuthenticatorCatalog) {
  return {
    name: field({
      schema: z.string().trim().min(1).max(255),
      read: (c) => c.settings.name ?? c.clientId,
      write: (c, v) => (v === null ? delete c.settings.name : (c.settings.name = v)),
      cli: { flag: 'name', kind: 'text', help: 'shown to users on the consent page' },
    }),
    logo_uri: setting('logoUri', logoUrl.describe('https URL of an image shown (40×40 px) with the name on its login pages'),
      { flag: 'logo-uri', kind: 'text', help: 'https URL of an image shown with the name on its login pages' }),
    brand_color: setting('brandColor', brandColour, { flag: 'brand-color', kind: 'text', help: 'accent colour of its login pages, #rrggbb (4.5:1 against white)' }),
    policy_uri: setting('policyUri', httpsUrl.describe('its privacy policy, linked from its login pages'),
      { flag: 'policy-uri', kind: 'text', help: 'privacy policy URL, linked from its login pages' }),
    tos_uri: setting('tosUri', httpsUrl.describe('its terms of service, linked from its login pages'),
      { flag: 'tos-uri', kind: 'text', help: 'terms of service URL, linked from its login pages' }),
    client_uri: setting('clientUri', httpsUrl.describe('its home page: "Back to <name>" on error pages'),
      { flag: 'client-uri', kind: 'text', help: 'home page, offered on error pages ("Back to <name>")' }),
    first_party: setting('firstParty', z.boolean().describe('the operator\'s own application: users are not asked for consent'),
      { flag: 'first-party', kind: 'bool', help: 'the operator\'s own application: no consent page' }, false),
    redirect_uris: field({
      schema: z.array(redirectUri).max(50),
      default: [],
      read: (c) => c.redirectUris,
      write: (c, v) => (c.redirectUris = v ?? []),
      cli: { flag: 'redirect-uri', kind: 'list', help: 'where the browser returns after login (repeat for several)' },
    }),
    post_logout_redirect_uris: setting('postLogoutRedirectUris', z.array(redirectUri).max(50),
      { flag: 'post-logout-redirect-uri', kind: 'list', help: 'where the browser may go after logout (repeat for several)' }, []),
    grant_types: field({
      schema: z.array(grantType).min(1).refine(unique, 'names a grant type twice'),
      default: ['authorization_code', 'refresh_token'],
      read: (c) => c.grantTypes,
      write: (c, v) => (c.grantTypes = v ?? ['authorization_code', 'refresh_token']),
      cli: { flag: 'grants', kind: 'list', help: `${GRANT_TYPES.join(', ').replace(SAML2_BEARER_GRANT, 'saml2-bearer')}` },
    }),
    chain: field({
      schema: chainText(catalog),
      required: true,
      read: (c) => c.chain,
      write: (c, v) => { if (v !== null) c.chain = v; },
      cli: { flag: 'chain', kind: 'text', help: 'the login steps, e.g. "password,totp" or "password,totp|recovery"' },
    }),
    scopes: setting('scopes', z.array(z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]{1,128}$/, 'is not a valid scope name')).max(100).refine(unique, 'names a scope twice'),
      { flag: 'scopes', kind: 'list', help: 'API scopes its tokens may carry, e.g. "read update"' }, []),
    user_token_ttl: setting('userTokenTtl', ttl.describe('seconds; access tokens issued to users of this client; -1: never expires'),
      { flag: 'user-token-ttl', kind: 'int', help: 'seconds; -1 never expires (needs --allow-non-expiring)' }),
    app_token_ttl: setting('appTokenTtl', ttl.describe('seconds; client_credentials tokens of this client; -1: never expires'),
      { flag: 'app-token-ttl', kind: 'int', help: 'seconds; -1 never expires (needs --allow-non-expiring)' }),
    allow_non_expiring: setting('allowNonExpiring', z.boolean().describe('whether this client may have tokens that do not expire'),
      { flag: 'allow-non-expiring', kind: 'bool', help: 'allow negative token lifetimes' }, false),
    app_token_format: setting('appTokenFormat', z.enum(['opaque', 'jwt']).describe('application tokens: opaque (introspected) or RFC 9068 JWT'),
      { flag: 'app-token-format', kind: 'text', help: 'opaque or jwt' }, 'opaque'),
    saml_idps: setting('samlIdps', z.array(z.string().min(1).max(128)).max(50).refine(unique, 'names an IdP twice').describe('trusted SAML IdPs whose assertions it may exchange'),
      { flag: 'saml-idps', kind: 'list', help: 'trusted SAML IdPs for the saml2-bearer grant' }, []),
    admin_api: setting('adminApi', z.boolean().describe('whether tokens of this client with the "admin" scope are accepted by the admin API (user tokens also need an account with the admin role)'),
      { flag: 'admin-api', kind: 'bool', help: 'its tokens with the "admin" scope may use the admin API' }, false),
    // protocol (server/provider/index.ts; README "Connecting applications")
    token_endpoint_auth_method: field({
      schema: z.enum(TOKEN_ENDPOINT_AUTH_METHODS).describe('how it authenticates at /token, /introspect, /revoke and /request (public clients: none)'),
      read: (c) => c.settings.tokenEndpointAuthMethod ?? (c.secret === null ? 'none' : 'client_secret_basic'),
      write: (c, v) => (v === null ? delete c.settings.tokenEndpointAuthMethod : (c.settings.tokenEndpointAuthMethod = v)),
      cli: { flag: 'token-endpoint-auth-method', kind: 'text', help: TOKEN_ENDPOINT_AUTH_METHODS.join(', ') },
    }),
    jwks: setting('jwks', jwks.describe('its public keys for private_key_jwt'), { flag: 'jwks', kind: 'text', help: 'its public keys (JSON Web Key Set) for private_key_jwt' }),
    jwks_uri: setting('jwksUri', httpsUrl.describe('where it publishes its public keys for private_key_jwt'), { flag: 'jwks-uri', kind: 'text', help: 'URL of its public keys for private_key_jwt' }),
    allow_private_network: setting('allowPrivateNetwork', z.boolean().describe('its jwks_uri and back-channel logout URI may be loopback, private or link-local addresses'),
      { flag: 'allow-private-network', kind: 'bool', help: 'its jwks_uri and back-channel logout URI may be on a private network' }, false),
    backchannel_logout_uri: setting('backchannelLogoutUri', httpsUrl.describe('where logout tokens are POSTed at sign-out (back-channel logout)'),
      { flag: 'backchannel-logout-uri', kind: 'text', help: 'where logout tokens are POSTed at sign-out' }),
    backchannel_logout_session_required: setting('backchannelLogoutSessionRequired', z.boolean().describe('logout tokens and id_tokens carry sid'),
      { flag: 'backchannel-logout-session-required', kind: 'bool', help: 'logout tokens and id_tokens carry sid' }, false),
    logout_ends_grants: setting('logoutEndsGrants', z.boolean().describe('sign-out revokes its grants even with offline_access'),
      { flag: 'logout-ends-grants', kind: 'bool', help: 'sign-out revokes its tokens even with offline_access' }, false),
    require_pushed_authorization_requests: setting('requirePushedAuthorizationRequests', z.boolean().describe('authorization requests must be pushed first (PAR, RFC 9126)'),
      { flag: 'require-par', kind: 'bool', help: 'authorization requests must be pushed (PAR)' }, false),
    dpop_bound_access_tokens: setting('dpopBoundAccessTokens', z.boolean().describe('its access tokens must be DPoP-bound (RFC 9449)'),
      { flag: 'require-dpop', kind: 'bool', help: 'its access tokens must be DPoP-bound' }, false),
    user_token_format: setting('userTokenFormat', z.enum(['opaque', 'jwt']).describe('user access tokens: opaque (introspected, for /userinfo) or RFC 9068 JWT for its API scopes'),
      { flag: 'user-token-format', kind: 'text', help: 'opaque or jwt' }, 'opaque'),
    id_token_signed_response_alg: setting('idTokenSignedResponseAlg', z.enum(SIGNING_ALGS).describe('the algorithm of its ID tokens'),
      { flag: 'id-token-alg', kind: 'text', help: SIGNING_ALGS.join(', ') }, 'RS256'),
  } satisfies Record<string, Field>;
}

export type ClientFields = ReturnType<typeof clientFields>;
export type ClientFieldName = keyof ClientFields;

/** Each field's value as validated. */
export type ClientFieldValues = { [K in ClientFieldName]: z.output<ClientFields[K]['schema']> };
export type ClientCreate = { client_id: string; public: boolean; client_secret?: string } & Partial<ClientFieldValues>;
export type ClientUpdate = { [K in ClientFieldName]?: ClientFieldValues[K] | null } & { rotate_secret?: true };
