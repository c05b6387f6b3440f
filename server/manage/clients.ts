import { randomBytes } from 'node:crypto';
import type { Services } from '../services.ts';
import type { ClientRecord } from '../storage/clients.ts';
import { parseChain, describeChain } from '../flow/chain.ts';
import { SAML2_BEARER_GRANT } from '../grants/grant-types.ts';
import type { ClientFields, ClientCreate, ClientUpdate, ClientFieldName } from './client-fields.ts';
import { ManageError, duplicate, invalid, notFound, type Actor } from './errors.ts';
import type { Changes } from './changes.ts';
import type { SimulateRequest } from './schemas.ts';
import { simulate, SimulationError, type Simulation } from '../flow/simulate.ts';

/** The console's own client at this broker. */
export const ADMIN_CLIENT_ID = 'stepgate-admin';

/** A client as every door shows it: each field of the table, plus what is derived. Never its secret. */
export type ClientView = { client_id: string; public: boolean; chain_steps: string[][]; chain_description: string } & Record<ClientFieldName, unknown>;

/** A generated secret: 32 random bytes, base64url (only characters every client library passes unescaped). */
export const newSecret = () => randomBytes(32).toString('base64url');

/** Registered clients: every change validated by the same rules and audited, whichever door it came through. */
export class ManageClients {
  readonly #s: Services;
  readonly #fields: ClientFields;
  readonly #changes: Changes;

  constructor(s: Services, fields: ClientFields, changes: Changes) {
    this.#s = s;
    this.#fields = fields;
    this.#changes = changes;
  }

  view(c: ClientRecord): ClientView {
    // Shown as stored, even when it names a provider removed since (the runner refuses such a login with a clear page).
    const chain = parseChain(c.chain, { has: () => true, requiresUser: () => false });
    const fields = Object.fromEntries(Object.entries(this.#fields).map(([name, f]) => [name, f.read(c)])) as Record<ClientFieldName, unknown>;
    return {
      client_id: c.clientId, public: c.secret === null, ...fields,
      chain_steps: chain.steps.map((s) => s.options),
      chain_description: describeChain(chain, (id) => this.#s.runner.label(id)),
    };
  }

  async list(): Promise<ClientView[]> {
    return (await this.#s.clients.list()).map((c) => this.view(c));
  }

  async get(clientId: string): Promise<ClientView> {
    const client = await this.#s.clients.get(clientId);
    if (!client) throw notFound('client', clientId);
    return this.view(client);
  }

  /** Creates a client; a secret is generated unless given or public, and returned once. */
  async create(input: ClientCreate, by: Actor): Promise<{ client: ClientView; client_secret?: string }> {
    if (input.public && input.client_secret !== undefined) throw invalid('client_secret', 'a public client has no secret');
    const secret = input.public ? null : input.client_secret ?? newSecret();
    const client: ClientRecord = { clientId: input.client_id, secret, redirectUris: [], grantTypes: [], chain: '', settings: {} };
    for (const [name, f] of Object.entries(this.#fields)) {
      const value = input[name as ClientFieldName];
      if (value !== undefined) (f.write as (c: ClientRecord, v: unknown) => void)(client, value);
    }
    const view = await this.#changes.run(async (t) => {
      await this.#check(client, t);
      if (!(await this.#s.clients.create(client, t))) throw duplicate('client_id', `client "${input.client_id}" already exists`);
      const after = this.view(client);
      await this.#changes.record(t, by, { kind: 'admin.client.created', clientId: client.clientId, subject: client.clientId, details: { after } });
      return after;
    });
    return { client: view, ...(secret !== null && input.client_secret === undefined && { client_secret: secret }) };
  }

  /** Changes the given fields (null clears a setting); `rotate_secret` issues a new secret, returned once. */
  async update(clientId: string, patch: ClientUpdate, by: Actor): Promise<{ client: ClientView; client_secret?: string }> {
    let rotated: string | undefined;
    const view = await this.#changes.run(async (t) => {
      const before = await this.#s.clients.get(clientId, t);
      if (!before) throw notFound('client', clientId);
      const after: ClientRecord = structuredClone(before);
      for (const [name, f] of Object.entries(this.#fields)) {
        const value = patch[name as ClientFieldName];
        if (value !== undefined) (f.write as (c: ClientRecord, v: unknown) => void)(after, value);
      }
      if (patch.rotate_secret) {
        if (before.secret === null) throw invalid('rotate_secret', 'a public client has no secret');
        rotated = newSecret();
        after.secret = rotated;
      }
      await this.#check(after, t);
      await this.#s.clients.update(clientId, { ...after, secret: rotated ?? undefined }, t);
      const [beforeView, afterView] = [this.view(before), this.view(after)];
      await this.#changes.record(t, by, {
        kind: 'admin.client.updated', clientId, subject: clientId,
        details: { before: beforeView, after: afterView, ...(rotated && { secret_rotated: true }) },
      });
      return afterView;
    });
    return { client: view, ...(rotated && { client_secret: rotated }) };
  }

  /** What `user` would face signing in at this client, and why (the same plan a login runs). Changes nothing. */
  async simulate(clientId: string, input: SimulateRequest): Promise<Simulation> {
    const client = await this.#s.clients.get(clientId);
    if (!client) throw notFound('client', clientId);
    try {
      return await simulate({ runner: this.#s.runner, chainOf: async () => client.chain, userByName: (u) => this.#s.users.byUsername(u), hasSecondFactor: (id) => this.#s.credentials.hasSecondFactor(id) }, clientId, {
        username: input.user, rememberedDevice: input.remembered_device,
        ...(input.address !== undefined && { address: input.address }),
        ...(input.acr !== undefined && { acr: input.acr }),
        ...(input.max_age !== undefined && { maxAge: input.max_age }),
        ...(input.session !== undefined && { session: input.session }),
      });
    } catch (err) {
      if (err instanceof SimulationError) throw invalid(err.field, err.message);
      throw err;
    }
  }

  async remove(clientId: string, by: Actor): Promise<void> {
    if (clientId === ADMIN_CLIENT_ID) throw new ManageError(409, 'protected', `"${ADMIN_CLIENT_ID}" is the console's own client and cannot be deleted`);
    await this.#changes.run(async (t) => {
      const before = await this.#s.clients.get(clientId, t);
      if (!before) throw notFound('client', clientId);
      await this.#s.clients.remove(clientId, t);
      await this.#changes.record(t, by, { kind: 'admin.client.deleted', clientId, subject: clientId, details: { before: this.view(before) } });
    });
  }

  /** Rules that span fields, checked on the client as it would be stored. */
  async #check(c: ClientRecord, t: Parameters<Parameters<Changes['run']>[0]>[0]): Promise<void> {
    const { runner } = this.#s;
    const grants = c.grantTypes;
    if (grants.includes('authorization_code') && c.redirectUris.length === 0) {
      throw invalid('redirect_uris', 'the authorization_code grant needs at least one redirect URI');
    }
    const method = c.settings.tokenEndpointAuthMethod;
    // without a secret, a client is public unless it proves itself with its own keys
    const isPublic = c.secret === null && method !== 'private_key_jwt';
    if (isPublic && grants.includes('client_credentials')) throw invalid('grant_types', 'a public client cannot use client_credentials');
    // A public client cannot keep a secret, so nothing but the browser flow suits it.
    const browserOnly = grants.filter((g) => g !== 'authorization_code' && g !== 'refresh_token');
    if (isPublic && browserOnly.length > 0) throw invalid('grant_types', `a public client can use only authorization_code and refresh_token, not ${browserOnly.join(', ')}`);
    if (method?.startsWith('client_secret') && c.secret === null) throw invalid('token_endpoint_auth_method', `${method} needs a client secret, and this client has none`);
    if (c.settings.jwks && c.settings.jwksUri) throw invalid('jwks', 'give its keys either inline (jwks) or by URL (jwks_uri), not both');
    if (method === 'private_key_jwt' && !c.settings.jwks && !c.settings.jwksUri) throw invalid('token_endpoint_auth_method', 'private_key_jwt needs the client\'s public keys: jwks or jwks_uri');
    parseChain(c.chain, runner.catalog);
    if (c.clientId === ADMIN_CLIENT_ID && !runner.guaranteesMultiFactor(c.chain)) {
      throw invalid('chain', 'the console needs two different factors on every path, e.g. password then TOTP (a password asked twice is one factor)');
    }
    const s = c.settings;
    if (!s.allowNonExpiring && ((s.userTokenTtl ?? 1) < 0 || (s.appTokenTtl ?? 1) < 0)) {
      throw invalid('allow_non_expiring', 'a negative token lifetime (never expires) needs allow_non_expiring for this client');
    }
    if (s.adminApi) {
      // A user token of an admin_api client opens the admin API: it must have taken what the console takes.
      if (grants.includes(SAML2_BEARER_GRANT)) throw invalid('admin_api', 'a client allowed the admin API cannot exchange SAML assertions: another party vouches for the user, not this broker\'s chain');
      const userGrants = grants.filter((g) => g !== 'client_credentials' && g !== 'refresh_token');
      if (userGrants.length > 0 && !runner.guaranteesMultiFactor(c.chain)) {
        throw invalid('admin_api', `a client allowed the admin API with user grants (${userGrants.join(', ')}) needs a chain with two different factors on every path, like the console's`);
      }
    }
    if (s.samlIdps?.length) {
      const known = new Set((await this.#s.samlIdps.list(t)).map((i) => i.name));
      const unknown = s.samlIdps.filter((n) => !known.has(n));
      if (unknown.length) throw invalid('saml_idps', `no trusted SAML IdP ${unknown.map((n) => `"${n}"`).join(', ')} (add it first)`);
    }
  }
}
