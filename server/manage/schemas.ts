import { isIP } from 'node:net';
import { z } from 'zod';
import type { AuthenticatorCatalog } from '../flow/chain.ts';
import { CLAIM_FIELDS, idpNameProblem, resolveSource, scopesProblem } from '../federation/idp-rules.ts';
import { ManageError } from './errors.ts';
import { SIGNING_ALGS } from './client-fields.ts';
import { clientFields, type ClientCreate, type ClientUpdate } from './client-fields.ts';

/**
 * What the management service accepts, as zod schemas: the validation every door (API,
 * console, CLI) shares, and the source of the OpenAPI document. Objects are strict, so a
 * misspelt field is an error rather than silently ignored.
 */

const CLIENT_ID = /^[A-Za-z0-9._~-]{1,255}$/;
/** Characters that survive `curl -u id:secret`, form encoding and common client libraries unescaped. */
const SECRET = /^[A-Za-z0-9._~-]+$/;

export function adminSchemas(catalog: AuthenticatorCatalog) {
  const fields = clientFields(catalog);
  const names = Object.keys(fields) as (keyof typeof fields)[];
  const createShape = Object.fromEntries(names.map((n) => {
    const f = fields[n] as { schema: z.ZodType; default?: unknown; required?: true };
    return [n, f.required ? f.schema : f.default !== undefined ? f.schema.default(f.default) : f.schema.optional()];
  }));
  const updateShape = Object.fromEntries(names.map((n) => [n, (fields[n].schema as z.ZodType).nullable().optional()]));

  const clientCreate = z.strictObject({
    client_id: z.string().regex(CLIENT_ID, 'use 1 to 255 letters, digits, ".", "_", "~" or "-"'),
    public: z.boolean().default(false).describe('a public client has no secret and must use PKCE'),
    client_secret: z.string().min(16, 'must be at least 16 characters').max(512).regex(SECRET, 'use only letters, digits, ".", "_", "~" or "-"').optional()
      .describe('omit to have one generated; it is returned once'),
    ...createShape,
  }) as unknown as z.ZodType<ClientCreate>;

  const clientUpdate = z.strictObject({
    ...updateShape,
    rotate_secret: z.literal(true).optional().describe('issue a new secret, returned once'),
  }).describe('null clears a setting (its default applies again)') as unknown as z.ZodType<ClientUpdate>;

  const password = z.string().min(8, 'must be at least 8 characters').max(1024);
  const email = z.email('is not an email address').max(320).nullable();
  const roles = z.array(z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/, 'roles are lowercase words')).max(20).refine((r) => new Set(r).size === r.length, 'names a role twice');
  const userCreate = z.strictObject({
    username: z.string().trim().min(1).max(255),
    password: password.optional().describe('omit to create an account without a password'),
    email: email.optional(),
    roles: roles.default([]),
    totp: z.boolean().default(false).describe('enrol TOTP now: the secret is returned once'),
  });
  const userUpdate = z.strictObject({
    email: email.optional(),
    email_verified: z.boolean().optional().describe('true: the admin vouches that the address is the owner\'s (no link is mailed); false: the owner must confirm it again. A new email without it is unverified'),
    roles: roles.optional().describe('replaces the roles; removing "admin" ends the sessions and tokens of the account'),
  });
  const userQuery = z.strictObject({
    search: z.string().max(255).optional().describe('part of the username or email'),
    role: z.string().max(32).optional(),
    disabled: z.enum(['true', 'false']).transform((v) => v === 'true').optional(),
  });
  const passwordReset = z.strictObject({ password: password.optional().describe('omit to have one generated; it is returned once') });
  const disable = z.strictObject({ disabled: z.boolean() });
  const enrolmentRequirement = z.strictObject({
    required: z.boolean().default(true).describe('false withdraws the requirement'),
  });

  const auditQuery = z.strictObject({
    kind: z.string().max(64).optional().describe('prefix, e.g. "auth.step" or "admin."'),
    since: z.string().regex(/^\d{1,6}[mhd]$/, 'is a duration like 30m, 12h or 7d').optional().describe('the last 30m, 12h, 7d, ...'),
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
    trust_upstream_amr: z.boolean().describe('the provider\'s amr counts: its otp (or mfa) satisfies a later TOTP step and can make a login mfa'),
    amr_map: z.record(z.string().min(1).max(64), z.string().regex(/^[a-z]{2,16}$/, 'an RFC 8176 method name, e.g. "pwd"')).refine((m) => Object.keys(m).length <= 20, 'at most 20 names')
      .describe('the provider\'s method names to RFC 8176 ones, e.g. {"password":"pwd"}'),
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
    trust_upstream_amr: idpFields.trust_upstream_amr.default(false),
    amr_map: idpFields.amr_map.default({}),
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
    trust_upstream_amr: idpFields.trust_upstream_amr.optional(),
    amr_map: idpFields.amr_map.optional(),
    allow_private_network: idpFields.allow_private_network.optional(),
  }).superRefine((value, ctx) => {
    if (value.preset !== undefined || value.issuer !== undefined) source(value, ctx);
  });
  const identityLink = z.strictObject({
    idp: z.string().min(1).max(64).describe('the identity provider'),
    subject: z.string().min(1).max(255).describe('the "sub" the provider gives this person'),
  });

  const samlIdpCreate = z.strictObject({
    name: z.string().regex(/^[A-Za-z0-9._-]{1,128}$/, 'use letters, digits, ".", "_" or "-"'),
    issuer: z.string().min(1).max(1024).describe("its entityID, as in the assertions' <Issuer>"),
    certificate: z.string().max(20_000).describe('the PEM certificate that signs its assertions'),
  });

  const simulate = z.strictObject({
    user: z.string().trim().min(1).max(255).describe('the username'),
    address: z.string().refine((v) => isIP(v) !== 0, 'is not an IPv4 or IPv6 address').optional().describe('the client address'),
    acr: z.string().min(1).max(255).optional().describe('an acr_values value'),
    max_age: z.number().int().min(0).max(10 * 365 * 24 * 3600).optional().describe('the request\'s max_age, in seconds'),
    remembered_device: z.boolean().default(false).describe('this browser is remembered for the user'),
    session: z.string().max(1000).optional().describe('steps the browser session satisfied, e.g. "password@-10m,totp@-3h"'),
  });
  const keyRotate = z.strictObject({ alg: z.enum(SIGNING_ALGS).optional().describe('omit to rotate every algorithm') });

  return { keyRotate, fields, clientCreate, clientUpdate, simulate, userCreate, userUpdate, userQuery, passwordReset, disable, enrolmentRequirement, auditQuery, idpCreate, idpUpdate, identityLink, samlIdpCreate };
}

export type AdminSchemas = ReturnType<typeof adminSchemas>;
export type { ClientCreate, ClientUpdate };
export type UserCreate = z.output<AdminSchemas['userCreate']>;
export type UserUpdate = z.output<AdminSchemas['userUpdate']>;
export type UserQuery = z.output<AdminSchemas['userQuery']>;
export type EnrolmentRequirement = z.output<AdminSchemas['enrolmentRequirement']>;
export type AuditQuery = z.output<AdminSchemas['auditQuery']>;
export type SamlIdpCreate = z.output<AdminSchemas['samlIdpCreate']>;
export type IdpCreate = z.output<AdminSchemas['idpCreate']>;
export type IdpUpdate = z.output<AdminSchemas['idpUpdate']>;

/** zod issues as the API reports them: where, and why. */
export function describeIssues(error: z.ZodError): { path: string; message: string }[] {
  return error.issues.map((i) => ({
    path: i.path.length ? i.path.join('.') : (i.code === 'unrecognized_keys' ? (i as { keys: string[] }).keys.join(', ') : '(body)'),
    message: i.message,
  }));
}

/** Validates `input` or throws a 400 naming each field path and reason. */
export function parse<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const result = schema.safeParse(input ?? {});
  if (!result.success) {
    const issues = describeIssues(result.error);
    throw new ManageError(400, 'invalid_request', issues.map((i) => `${i.path}: ${i.message}`).join('; '), issues);
  }
  return result.data;
}
export type SimulateRequest = z.output<AdminSchemas['simulate']>;
