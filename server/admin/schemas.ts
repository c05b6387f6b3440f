import { z } from 'zod';
import { parseChain, ChainError, type AuthenticatorCatalog } from '../flow/chain.ts';
import { CLAIM_FIELDS, idpNameProblem, resolveSource, scopesProblem } from '../federation/idp-rules.ts';

/**
 * What the admin API accepts, as zod schemas: the validation the API and the console
 * share, and the source of the OpenAPI document. Objects are strict, so a misspelt
 * field is an error rather than silently ignored.
 */

export const GRANT_TYPES = ['authorization_code', 'refresh_token', 'client_credentials'] as const;

const CLIENT_ID = /^[A-Za-z0-9._~-]{1,255}$/;

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

const ttl = z.number().int().positive().max(10 * 365 * 24 * 3600);

/** A chain in its text form, checked against the authenticators this broker has. */
function chainText(catalog: AuthenticatorCatalog) {
  return z.string().max(1000).superRefine((value, ctx) => {
    try {
      parseChain(value, catalog);
    } catch (err) {
      if (!(err instanceof ChainError)) throw err;
      ctx.addIssue({ code: 'custom', message: err.message });
    }
  }).describe('steps separated by ",", alternatives inside a step by "|", e.g. "password,totp"');
}

export function adminSchemas(catalog: AuthenticatorCatalog) {
  const clientFields = {
    name: z.string().min(1).max(255),
    redirect_uris: z.array(redirectUri).max(50),
    post_logout_redirect_uris: z.array(redirectUri).max(50),
    grant_types: z.array(z.enum(GRANT_TYPES)).min(1).refine((g) => new Set(g).size === g.length, 'names a grant type twice'),
    chain: chainText(catalog),
    user_token_ttl: ttl.describe('seconds; access tokens issued to users of this client'),
    app_token_ttl: ttl.describe('seconds; client_credentials tokens of this client'),
    allow_non_expiring: z.boolean().describe('whether this client may ask for tokens that do not expire'),
    admin_api: z.boolean().describe('whether tokens of this client with the "admin" scope are accepted by the admin API (user tokens also need an account with the admin role)'),
  };

  const clientCreate = z.strictObject({
    client_id: z.string().regex(CLIENT_ID, 'use 1 to 255 letters, digits, ".", "_", "~" or "-"'),
    public: z.boolean().default(false).describe('a public client has no secret and must use PKCE'),
    client_secret: z.string().min(16).max(512).optional().describe('omit to have one generated; it is returned once'),
    ...clientFields,
    name: clientFields.name.optional(),
    redirect_uris: clientFields.redirect_uris.default([]),
    post_logout_redirect_uris: clientFields.post_logout_redirect_uris.optional(),
    grant_types: clientFields.grant_types.default(['authorization_code', 'refresh_token']),
    user_token_ttl: clientFields.user_token_ttl.optional(),
    app_token_ttl: clientFields.app_token_ttl.optional(),
    allow_non_expiring: clientFields.allow_non_expiring.optional(),
    admin_api: clientFields.admin_api.optional(),
  });

  const clientUpdate = z.strictObject({
    name: clientFields.name.optional(),
    redirect_uris: clientFields.redirect_uris.optional(),
    post_logout_redirect_uris: clientFields.post_logout_redirect_uris.optional(),
    grant_types: clientFields.grant_types.optional(),
    chain: clientFields.chain.optional(),
    user_token_ttl: clientFields.user_token_ttl.nullable().optional().describe('null clears it (the broker default applies)'),
    app_token_ttl: clientFields.app_token_ttl.nullable().optional().describe('null clears it (the broker default applies)'),
    allow_non_expiring: clientFields.allow_non_expiring.optional(),
    admin_api: clientFields.admin_api.optional(),
    rotate_secret: z.literal(true).optional().describe('issue a new secret, returned once'),
  });

  const password = z.string().min(8, 'must be at least 8 characters').max(1024);
  const userCreate = z.strictObject({
    username: z.string().trim().min(1).max(255),
    password: password.optional().describe('omit to create an account without a password'),
    email: z.email().max(320).nullable().optional(),
    roles: z.array(z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/, 'roles are lowercase words')).max(20).default([]),
    totp: z.boolean().default(false).describe('enrol TOTP now: the secret is returned once'),
  });
  const passwordReset = z.strictObject({ password: password.optional().describe('omit to have one generated; it is returned once') });
  const disable = z.strictObject({ disabled: z.boolean() });

  const auditQuery = z.strictObject({
    kind: z.string().max(64).optional().describe('prefix, e.g. "auth.step" or "admin."'),
    actor: z.string().max(255).optional(),
    client: z.string().max(255).optional(),
    from: z.iso.datetime({ offset: true }).optional(),
    to: z.iso.datetime({ offset: true }).optional(),
    before: z.coerce.number().int().positive().optional().describe('an event id: older events (paging)'),
    limit: z.coerce.number().int().min(1).max(500).optional(),
  });

  // Identity providers: the rules are those of `stepgate idp add` (server/federation/idp-rules.ts).
  const claim = z.string().trim().min(1).max(255).describe('the upstream claim (from the id_token or userinfo) that fills this field');
  const idpFields = {
    preset: z.string().max(64).describe('yahoo, google or microsoft: its issuer and display name; give this or issuer'),
    issuer: z.string().max(2048).describe('the issuer URL (https, or http on loopback); give this or preset'),
    client_id: z.string().trim().min(1).max(255).describe('the id the provider gave this broker'),
    client_secret: z.string().min(1).max(4096).describe('write-only: stored sealed, never returned'),
    display_name: z.string().trim().min(1).max(255).describe('shown to users ("Sign in with ...")'),
    scopes: z.array(z.string().max(255)).min(1).max(50).superRefine((scopes, ctx) => {
      const problem = scopesProblem(scopes);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    }).describe('scopes asked for upstream; must include "openid"'),
    claim_mapping: z.strictObject(Object.fromEntries(CLAIM_FIELDS.map((f) => [f, claim.optional()])) as Record<(typeof CLAIM_FIELDS)[number], z.ZodOptional<typeof claim>>)
      .describe('which upstream claim fills the local username and email on just-in-time provisioning'),
    jit: z.boolean().describe('create a local account on the first sign-in of an identity not linked yet'),
    allow_private_network: z.boolean().describe('let the provider be on a loopback, private or link-local address (on-premise); off by default'),
  };
  const source = (value: { preset?: string; issuer?: string }, ctx: z.core.$RefinementCtx) => {
    const found = resolveSource(value);
    if ('problem' in found) ctx.addIssue({ code: 'custom', path: [found.path], message: found.problem });
  };
  const idpCreate = z.strictObject({
    name: z.string().superRefine((name, ctx) => {
      const problem = idpNameProblem(name);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    }).describe('the name chains use, e.g. "yahoo"; cannot change later'),
    preset: idpFields.preset.optional(),
    issuer: idpFields.issuer.optional(),
    client_id: idpFields.client_id,
    client_secret: idpFields.client_secret,
    display_name: idpFields.display_name.optional().describe("defaults to the preset's name, else the name"),
    scopes: idpFields.scopes.optional().describe('defaults to openid profile email'),
    claim_mapping: idpFields.claim_mapping.default({}),
    jit: idpFields.jit.default(false),
    allow_private_network: idpFields.allow_private_network.default(false),
  }).superRefine(source);
  const idpUpdate = z.strictObject({
    preset: idpFields.preset.optional(),
    issuer: idpFields.issuer.optional().describe('identities linked at the old issuer no longer match'),
    client_id: idpFields.client_id.optional(),
    client_secret: idpFields.client_secret.optional().describe('omit to keep the stored one'),
    display_name: idpFields.display_name.optional(),
    scopes: idpFields.scopes.optional(),
    claim_mapping: idpFields.claim_mapping.optional(),
    jit: idpFields.jit.optional(),
    allow_private_network: idpFields.allow_private_network.optional(),
  }).superRefine((value, ctx) => {
    if (value.preset !== undefined || value.issuer !== undefined) source(value, ctx);
  });
  const identityLink = z.strictObject({
    idp: z.string().min(1).max(64).describe('the identity provider'),
    subject: z.string().min(1).max(255).describe('the "sub" the provider gives this person'),
  });

  return { clientCreate, clientUpdate, userCreate, passwordReset, disable, auditQuery, idpCreate, idpUpdate, identityLink };
}

export type AdminSchemas = ReturnType<typeof adminSchemas>;
export type ClientCreate = z.output<AdminSchemas['clientCreate']>;
export type ClientUpdate = z.output<AdminSchemas['clientUpdate']>;
export type UserCreate = z.output<AdminSchemas['userCreate']>;
export type IdpCreate = z.output<AdminSchemas['idpCreate']>;
export type IdpUpdate = z.output<AdminSchemas['idpUpdate']>;

/** zod issues as the API reports them: where, and why. */
export function describeIssues(error: z.ZodError): { path: string; message: string }[] {
  return error.issues.map((i) => ({
    path: i.path.length ? i.path.join('.') : (i.code === 'unrecognized_keys' ? (i as { keys: string[] }).keys.join(', ') : '(body)'),
    message: i.message,
  }));
}
