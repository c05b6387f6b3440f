import { randomBytes, randomUUID } from 'node:crypto';
import type { Transaction } from 'sequelize';
import { generateSecret, generateURI } from 'otplib';
import type { Database } from '../storage/database.ts';
import type { Keyring } from '../security/keyring.ts';
import type { Passwords } from '../security/passwords.ts';
import { Lockout } from '../security/lockout.ts';
import { normaliseUsername } from '../storage/users.ts';
import type { ClientSettings } from '../storage/clients.ts';
import type { Audit } from '../audit/index.ts';
import type { ChainRunner } from '../flow/runner.ts';
import { parseChain, formatChain, describeChain } from '../flow/chain.ts';
import type { IdentityProviders, IdentityProvider } from '../federation/identity-providers.ts';
import { DEFAULT_SCOPES } from '../federation/identity-providers.ts';
import type { LinkedIdentities, LinkedIdentity } from '../federation/linked-identities.ts';
import { clientsNaming, inUseProblem, nameTakenProblem, resolveSource } from '../federation/idp-rules.ts';
import type { ClientCreate, ClientUpdate, UserCreate, IdpCreate, IdpUpdate } from './schemas.ts';

/** The console's own client at this broker. */
export const ADMIN_CLIENT_ID = 'stepgate-admin';

/** A refused change: nothing was written. */
export class AdminError extends Error {
  readonly status: number;
  readonly code: string;
  readonly issues: { path: string; message: string }[];
  constructor(status: number, code: string, message: string, issues: { path: string; message: string }[] = []) {
    super(message);
    this.status = status;
    this.code = code;
    this.issues = issues;
  }
}

/** Who asks, from where: recorded with every change. */
export type Actor = { actor: string; address: string };

/** Settings keys the admin API owns; other keys in `settings` (other features') are kept as they are. */
type Settings = ClientSettings & { userTokenTtl?: number; appTokenTtl?: number; allowNonExpiring?: boolean; adminApi?: boolean; [key: string]: unknown };

export type ClientView = {
  client_id: string; name: string; public: boolean; redirect_uris: string[]; post_logout_redirect_uris: string[];
  grant_types: string[]; chain: string; chain_steps: string[][]; chain_description: string;
  user_token_ttl: number | null; app_token_ttl: number | null; allow_non_expiring: boolean; admin_api: boolean;
};

export type UserView = {
  id: string; username: string; email: string | null; roles: string[]; disabled: boolean; totp_enrolled: boolean;
  has_password: boolean; locked_until: number | null;
};

/** An identity provider as the API shows it: never its client secret. */
export type IdpView = {
  name: string; issuer: string; client_id: string; display_name: string; scopes: string[];
  claim_mapping: { username?: string; email?: string }; jit: boolean;
  /** may the provider's addresses be loopback, private or link-local (on-premise) */
  allow_private_network: boolean;
  /** the one redirect URI to register at the provider */
  redirect_uri: string;
  /** clients whose chains name this provider */
  used_by: string[];
};

export type IdentityView = { idp: string; issuer: string; subject: string; created: string };

type ClientRow = { client_id: string; secret: string | null; redirect_uris: string; grant_types: string; chain: string; settings: string };
type UserRow = { id: string; username: string; email: string | null; password_hash: string | null; totp_secret: string | null; roles: string; disabled: boolean | number };

const newSecret = () => randomBytes(24).toString('base64url');

/**
 * Every change an admin can make, each in one transaction with its audit record: a
 * refused or failed change leaves the database as it was. Secrets that are generated
 * here are returned once and never recorded.
 */
export class AdminActions {
  readonly #db: Database;
  readonly #keyring: Keyring;
  readonly #passwords: Passwords;
  readonly #audit: Audit;
  readonly #runner: ChainRunner;
  readonly #issuer: string;
  readonly #idps: IdentityProviders;
  readonly #links: LinkedIdentities;
  readonly #redirectUri: (idpName: string) => string;

  constructor(deps: {
    db: Database; keyring: Keyring; passwords: Passwords; audit: Audit; runner: ChainRunner; issuer: string;
    idps: IdentityProviders; links: LinkedIdentities; redirectUri: (idpName: string) => string;
  }) {
    this.#db = deps.db;
    this.#idps = deps.idps;
    this.#links = deps.links;
    this.#redirectUri = deps.redirectUri;
    this.#keyring = deps.keyring;
    this.#passwords = deps.passwords;
    this.#audit = deps.audit;
    this.#runner = deps.runner;
    this.#issuer = deps.issuer;
  }

  #tx<T>(work: (t: Transaction) => Promise<T>): Promise<T> {
    return this.#db.sequelize.transaction(work);
  }

  // ---- clients -------------------------------------------------------------------------

  clientView(row: ClientRow): ClientView {
    const settings = JSON.parse(row.settings) as Settings;
    // Shown as stored, even when it names a provider removed since (the runner refuses such a login with a clear page).
    const chain = parseChain(row.chain, { has: () => true, requiresUser: () => false });
    return {
      client_id: row.client_id,
      name: settings.name ?? row.client_id,
      public: row.secret === null,
      redirect_uris: JSON.parse(row.redirect_uris) as string[],
      post_logout_redirect_uris: settings.postLogoutRedirectUris ?? [],
      grant_types: JSON.parse(row.grant_types) as string[],
      chain: row.chain,
      chain_steps: chain.steps.map((s) => s.options),
      chain_description: describeChain(chain, (id) => this.#runner.label(id)),
      user_token_ttl: settings.userTokenTtl ?? null,
      app_token_ttl: settings.appTokenTtl ?? null,
      allow_non_expiring: settings.allowNonExpiring ?? false,
      admin_api: settings.adminApi ?? false,
    };
  }

  async #clientRow(clientId: string, t?: Transaction): Promise<ClientRow | undefined> {
    const [row] = await this.#db.select<ClientRow>('SELECT * FROM clients WHERE client_id = :clientId', { clientId }, t);
    return row;
  }

  async listClients(): Promise<ClientView[]> {
    const rows = await this.#db.select<ClientRow>('SELECT * FROM clients ORDER BY client_id', {});
    return rows.map((r) => this.clientView(r));
  }

  async getClient(clientId: string): Promise<ClientView> {
    const row = await this.#clientRow(clientId);
    if (!row) throw notFound('client', clientId);
    return this.clientView(row);
  }

  async createClient(input: ClientCreate, by: Actor): Promise<{ client: ClientView; client_secret?: string }> {
    if (input.public && input.client_secret !== undefined) throw invalid('client_secret', 'a public client has no secret');
    const secret = input.public ? null : input.client_secret ?? newSecret();
    const settings: Settings = {
      ...(input.name !== undefined && { name: input.name }),
      ...(input.post_logout_redirect_uris !== undefined && { postLogoutRedirectUris: input.post_logout_redirect_uris }),
      ...(input.user_token_ttl !== undefined && { userTokenTtl: input.user_token_ttl }),
      ...(input.app_token_ttl !== undefined && { appTokenTtl: input.app_token_ttl }),
      ...(input.allow_non_expiring !== undefined && { allowNonExpiring: input.allow_non_expiring }),
      ...(input.admin_api !== undefined && { adminApi: input.admin_api }),
    };
    const row: ClientRow = {
      client_id: input.client_id,
      secret: secret === null ? null : this.#keyring.encrypt(secret, `client:${input.client_id}`),
      redirect_uris: JSON.stringify(input.redirect_uris),
      grant_types: JSON.stringify(input.grant_types),
      chain: formatChain(parseChain(input.chain, this.#runner.catalog)),
      settings: JSON.stringify(settings),
    };
    this.#checkClient(row);
    const view = await this.#tx(async (t) => {
      const now = new Date();
      const inserted = await this.#db.change(
        `INSERT INTO clients (client_id, secret, redirect_uris, grant_types, chain, settings, created_at, updated_at)
         VALUES (:client_id, :secret, :redirect_uris, :grant_types, :chain, :settings, :now, :now)
         ON CONFLICT (client_id) DO NOTHING`, { ...row, now }, t);
      if (inserted !== 1) throw new AdminError(409, 'duplicate', `client "${input.client_id}" already exists`, [{ path: 'client_id', message: 'already exists' }]);
      const created = this.clientView(row);
      await this.#audit.record({ kind: 'admin.client.created', ...actorFields(by), clientId: row.client_id, subject: row.client_id, details: { after: created } }, t);
      return created;
    });
    return { client: view, ...(secret !== null && input.client_secret === undefined && { client_secret: secret }) };
  }

  async updateClient(clientId: string, patch: ClientUpdate, by: Actor): Promise<{ client: ClientView; client_secret?: string }> {
    let rotated: string | undefined;
    const view = await this.#tx(async (t) => {
      const before = await this.#clientRow(clientId, t);
      if (!before) throw notFound('client', clientId);
      const settings = JSON.parse(before.settings) as Settings;
      const set = <K extends keyof Settings>(key: K, value: Settings[K] | null | undefined) => {
        if (value === null) delete settings[key];
        else if (value !== undefined) settings[key] = value;
      };
      set('name', patch.name);
      set('postLogoutRedirectUris', patch.post_logout_redirect_uris);
      set('userTokenTtl', patch.user_token_ttl);
      set('appTokenTtl', patch.app_token_ttl);
      set('allowNonExpiring', patch.allow_non_expiring);
      set('adminApi', patch.admin_api);
      if (patch.rotate_secret) {
        if (before.secret === null) throw invalid('rotate_secret', 'a public client has no secret');
        rotated = newSecret();
      }
      const after: ClientRow = {
        client_id: clientId,
        secret: rotated ? this.#keyring.encrypt(rotated, `client:${clientId}`) : before.secret,
        redirect_uris: patch.redirect_uris ? JSON.stringify(patch.redirect_uris) : before.redirect_uris,
        grant_types: patch.grant_types ? JSON.stringify(patch.grant_types) : before.grant_types,
        chain: patch.chain !== undefined ? formatChain(parseChain(patch.chain, this.#runner.catalog)) : before.chain,
        settings: JSON.stringify(settings),
      };
      this.#checkClient(after);
      await this.#db.change(
        `UPDATE clients SET secret = :secret, redirect_uris = :redirect_uris, grant_types = :grant_types, chain = :chain,
         settings = :settings, updated_at = :now WHERE client_id = :client_id`, { ...after, now: new Date() }, t);
      const beforeView = this.clientView(before);
      const afterView = this.clientView(after);
      await this.#audit.record({
        kind: 'admin.client.updated', ...actorFields(by), clientId, subject: clientId,
        details: { before: beforeView, after: afterView, ...(rotated && { secret_rotated: true }) },
      }, t);
      return afterView;
    });
    return { client: view, ...(rotated && { client_secret: rotated }) };
  }

  async deleteClient(clientId: string, by: Actor): Promise<void> {
    if (clientId === ADMIN_CLIENT_ID) throw new AdminError(409, 'protected', `"${ADMIN_CLIENT_ID}" is the console's own client and cannot be deleted`);
    await this.#tx(async (t) => {
      const before = await this.#clientRow(clientId, t);
      if (!before) throw notFound('client', clientId);
      await this.#db.change('DELETE FROM clients WHERE client_id = :clientId', { clientId }, t);
      await this.#audit.record({ kind: 'admin.client.deleted', ...actorFields(by), clientId, subject: clientId, details: { before: this.clientView(before) } }, t);
    });
  }

  /** Rules that span fields, checked on the client as it would be stored. */
  #checkClient(row: ClientRow): void {
    const grants = JSON.parse(row.grant_types) as string[];
    if (grants.includes('authorization_code') && (JSON.parse(row.redirect_uris) as string[]).length === 0) {
      throw invalid('redirect_uris', 'the authorization_code grant needs at least one redirect URI');
    }
    if (row.secret === null && grants.includes('client_credentials')) throw invalid('grant_types', 'a public client cannot use client_credentials');
    // A public client cannot keep a secret, so nothing but the browser flow suits it.
    const browserOnly = grants.filter((g) => g !== 'authorization_code' && g !== 'refresh_token');
    if (row.secret === null && browserOnly.length > 0) throw invalid('grant_types', `a public client can use only authorization_code and refresh_token, not ${browserOnly.join(', ')}`);
    parseChain(row.chain, this.#runner.catalog);
    if (row.client_id === ADMIN_CLIENT_ID && !this.#runner.guaranteesMultiFactor(row.chain)) {
      throw invalid('chain', 'the console needs two different factors on every path, e.g. password then TOTP (a password asked twice is one factor)');
    }
    // A user token of an admin_api client opens the admin API: it must have taken what the
    // console takes.
    const settings = JSON.parse(row.settings) as Settings;
    const userGrants = grants.filter((g) => g !== 'client_credentials' && g !== 'refresh_token');
    if (settings.adminApi && userGrants.length > 0 && !this.#runner.guaranteesMultiFactor(row.chain)) {
      throw invalid('admin_api', `a client allowed the admin API with user grants (${userGrants.join(', ')}) needs a chain with two different factors on every path, like the console's`);
    }
  }

  // ---- users ---------------------------------------------------------------------------

  async #userRow(id: string, t?: Transaction): Promise<UserRow | undefined> {
    const [row] = await this.#db.select<UserRow>('SELECT * FROM users WHERE id = :id', { id }, t);
    return row;
  }

  async #userView(row: UserRow, t?: Transaction): Promise<UserView> {
    const keys = [Lockout.keys('password', row.username, '').account, Lockout.keys('otp', row.id, '').account];
    const [lock] = await this.#db.select<{ until: number | null }>(
      'SELECT MAX(locked_until) AS until FROM login_failures WHERE key IN (:pwd, :otp) AND locked_until > :now', { pwd: keys[0], otp: keys[1], now: Math.floor(Date.now() / 1000) }, t);
    return {
      id: row.id, username: row.username, email: row.email, roles: JSON.parse(row.roles) as string[], disabled: Boolean(row.disabled),
      totp_enrolled: row.totp_secret !== null, has_password: row.password_hash !== null,
      locked_until: lock?.until == null ? null : Number(lock.until),
    };
  }

  async listUsers(): Promise<UserView[]> {
    const rows = await this.#db.select<UserRow>('SELECT * FROM users ORDER BY username', {});
    return Promise.all(rows.map((r) => this.#userView(r)));
  }

  async getUser(id: string): Promise<UserView> {
    const row = await this.#userRow(id);
    if (!row) throw notFound('user', id);
    return this.#userView(row);
  }

  async createUser(input: UserCreate, by: Actor): Promise<{ user: UserView; totp?: { secret: string; uri: string } }> {
    const id = randomUUID();
    const username = normaliseUsername(input.username);
    const passwordHash = input.password === undefined ? null : await this.#passwords.hash(input.password);
    const totp = input.totp ? generateSecret() : undefined;
    const user = await this.#tx(async (t) => {
      const now = new Date();
      const inserted = await this.#db.change(
        `INSERT INTO users (id, username, email, password_hash, totp_secret, totp_last_step, roles, disabled, created_at, updated_at)
         VALUES (:id, :username, :email, :passwordHash, :totp, NULL, :roles, :disabled, :now, :now)
         ON CONFLICT (username) DO NOTHING`,
        { id, username, email: input.email ?? null, passwordHash, totp: totp ? this.#keyring.encrypt(totp, `totp:${id}`) : null, roles: JSON.stringify(input.roles), disabled: false, now }, t);
      if (inserted !== 1) throw new AdminError(409, 'duplicate', `user "${username}" already exists`, [{ path: 'username', message: 'already exists' }]);
      const view = await this.#userView((await this.#userRow(id, t))!, t);
      await this.#audit.record({ kind: 'admin.user.created', ...actorFields(by), subject: id, details: { after: view } }, t);
      return view;
    });
    return { user, ...(totp && { totp: { secret: totp, uri: this.#totpUri(username, totp) } }) };
  }

  async setDisabled(id: string, disabled: boolean, by: Actor): Promise<UserView> {
    return this.#changeUser(id, by, disabled ? 'admin.user.disabled' : 'admin.user.enabled',
      (t) => this.#db.change('UPDATE users SET disabled = :disabled, updated_at = :now WHERE id = :id', { id, disabled, now: new Date() }, t));
  }

  async resetPassword(id: string, password: string | undefined, by: Actor): Promise<{ user: UserView; password?: string }> {
    const chosen = password ?? newSecret().slice(0, 20);
    const hash = await this.#passwords.hash(chosen);
    const user = await this.#changeUser(id, by, 'admin.user.password_reset',
      (t) => this.#db.change('UPDATE users SET password_hash = :hash, updated_at = :now WHERE id = :id', { id, hash, now: new Date() }, t));
    return { user, ...(password === undefined && { password: chosen }) };
  }

  async resetTotp(id: string, by: Actor): Promise<{ user: UserView; totp: { secret: string; uri: string } }> {
    const secret = generateSecret();
    const user = await this.#changeUser(id, by, 'admin.user.totp_reset',
      (t) => this.#db.change('UPDATE users SET totp_secret = :sealed, totp_last_step = NULL, updated_at = :now WHERE id = :id',
        { id, sealed: this.#keyring.encrypt(secret, `totp:${id}`), now: new Date() }, t));
    return { user, totp: { secret, uri: this.#totpUri(user.username, secret) } };
  }

  /** Clears the account's brute-force counters (password by username, TOTP by id; see Lockout). */
  async unlock(id: string, by: Actor): Promise<UserView> {
    return this.#changeUser(id, by, 'admin.user.unlocked', async (t) => {
      const row = (await this.#userRow(id, t))!;
      const keys = [Lockout.keys('password', row.username, '').account, Lockout.keys('otp', row.id, '').account];
      await this.#db.change('DELETE FROM login_failures WHERE key IN (:pwd, :otp)', { pwd: keys[0], otp: keys[1] }, t);
    });
  }

  async #changeUser(id: string, by: Actor, kind: string, change: (t: Transaction) => Promise<unknown>): Promise<UserView> {
    return this.#tx(async (t) => {
      const row = await this.#userRow(id, t);
      if (!row) throw notFound('user', id);
      const before = await this.#userView(row, t);
      await change(t);
      const after = await this.#userView((await this.#userRow(id, t))!, t);
      await this.#audit.record({ kind, ...actorFields(by), subject: id, details: { before, after } }, t);
      return after;
    });
  }

  // ---- identity providers --------------------------------------------------------------

  #idpView(idp: IdentityProvider, clients: { client_id: string; chain: string }[]): IdpView {
    return {
      name: idp.name, issuer: idp.issuer, client_id: idp.clientId, display_name: idp.displayName, scopes: idp.scopes,
      claim_mapping: idp.claimMapping, jit: idp.jit, allow_private_network: idp.allowPrivateNetwork, redirect_uri: this.#redirectUri(idp.name),
      used_by: clientsNaming(idp.name, clients.map((c) => ({ clientId: c.client_id, chain: c.chain }))),
    };
  }

  #chains(t?: Transaction) {
    return this.#db.select<{ client_id: string; chain: string }>('SELECT client_id, chain FROM clients ORDER BY client_id', {}, t);
  }

  async listIdps(): Promise<IdpView[]> {
    const clients = await this.#chains();
    return (await this.#idps.list()).map((idp) => this.#idpView(idp, clients));
  }

  async getIdp(name: string): Promise<IdpView> {
    const idp = await this.#idps.get(name);
    if (!idp) throw notFound('identity provider', name);
    return this.#idpView(idp, await this.#chains());
  }

  /** Adds a provider; its client secret is sealed, and neither returned nor recorded. */
  async createIdp(input: IdpCreate, by: Actor): Promise<IdpView> {
    const source = resolveSource(input);
    if ('problem' in source) throw invalid(source.path, source.problem);
    const taken = nameTakenProblem(input.name, this.#runner.catalog);
    if (taken) throw duplicate('name', taken);
    const idp = {
      name: input.name, issuer: source.issuer, clientId: input.client_id, clientSecret: input.client_secret,
      displayName: input.display_name ?? source.displayName ?? input.name, scopes: input.scopes ?? DEFAULT_SCOPES,
      claimMapping: input.claim_mapping, jit: input.jit, allowPrivateNetwork: input.allow_private_network,
    };
    return this.#tx(async (t) => {
      if (!(await this.#idps.add(idp, t))) throw duplicate('name', `identity provider "${input.name}" already exists`);
      const view = this.#idpView({ ...idp, updatedAt: Date.now() }, await this.#chains(t));
      await this.#audit.record({ kind: 'admin.idp.created', ...actorFields(by), subject: idp.name, details: { after: view } }, t);
      return view;
    });
  }

  /** Changes anything but the name; the client secret only when a new one is given. */
  async updateIdp(name: string, patch: IdpUpdate, by: Actor): Promise<IdpView> {
    const source = patch.preset !== undefined || patch.issuer !== undefined ? resolveSource(patch) : undefined;
    if (source && 'problem' in source) throw invalid(source.path, source.problem);
    return this.#tx(async (t) => {
      const before = await this.#idps.get(name, t);
      if (!before) throw notFound('identity provider', name);
      const after = {
        name, issuer: source?.issuer ?? before.issuer, clientId: patch.client_id ?? before.clientId,
        displayName: patch.display_name ?? before.displayName, scopes: patch.scopes ?? before.scopes,
        claimMapping: patch.claim_mapping ?? before.claimMapping, jit: patch.jit ?? before.jit,
        allowPrivateNetwork: patch.allow_private_network ?? before.allowPrivateNetwork,
        ...(patch.client_secret !== undefined && { clientSecret: patch.client_secret }),
      };
      await this.#idps.update(after, t);
      const clients = await this.#chains(t);
      const view = this.#idpView({ ...after, clientSecret: '', updatedAt: Date.now() }, clients);
      await this.#audit.record({
        kind: 'admin.idp.updated', ...actorFields(by), subject: name,
        details: { before: this.#idpView(before, clients), after: view, ...(patch.client_secret !== undefined && { secret_replaced: true }) },
      }, t);
      return view;
    });
  }

  /** Refused while a client's chain names the provider. Linked identities stay: adding it again restores them. */
  async deleteIdp(name: string, by: Actor): Promise<void> {
    await this.#tx(async (t) => {
      const before = await this.#idps.get(name, t);
      if (!before) throw notFound('identity provider', name);
      const view = this.#idpView(before, await this.#chains(t));
      if (view.used_by.length > 0) throw new AdminError(409, 'in_use', inUseProblem(name, view.used_by));
      await this.#idps.remove(name, t);
      await this.#audit.record({ kind: 'admin.idp.deleted', ...actorFields(by), subject: name, details: { before: view } }, t);
    });
  }

  // ---- linked identities ---------------------------------------------------------------

  async listIdentities(userId: string): Promise<IdentityView[]> {
    if (!(await this.#userRow(userId))) throw notFound('user', userId);
    return (await this.#links.forAccount(userId)).map(identityView);
  }

  /**
   * Links an external identity (the provider's subject at its current issuer) to a user.
   * `created` is false when it was linked to this user already (nothing changes then).
   */
  async linkIdentity(userId: string, input: { idp: string; subject: string }, by: Actor): Promise<{ identity: IdentityView; created: boolean }> {
    return this.#tx(async (t) => {
      if (!(await this.#userRow(userId, t))) throw notFound('user', userId);
      const idp = await this.#idps.get(input.idp, t);
      if (!idp) throw invalid('idp', `no identity provider "${input.idp}"`);
      const identity = { idpName: idp.name, issuer: idp.issuer, subject: input.subject };
      const outcome = await this.#links.link(identity, userId, t);
      if (outcome === 'taken') throw duplicate('subject', `that ${idp.displayName} identity is already linked to another user`);
      const linked = (await this.#links.find(idp.issuer, input.subject, t))!;
      if (outcome === 'linked') {
        await this.#audit.record({ kind: 'admin.user.identity_linked', ...actorFields(by), subject: userId, details: { identity: identityView(linked) } }, t);
      }
      return { identity: identityView(linked), created: outcome === 'linked' };
    });
  }

  async unlinkIdentity(userId: string, idpName: string, subject: string, by: Actor): Promise<void> {
    await this.#tx(async (t) => {
      if (!(await this.#userRow(userId, t))) throw notFound('user', userId);
      const linked = (await this.#links.forAccount(userId, t)).find((l) => l.idpName === idpName && l.subject === subject);
      if (!linked) throw notFound(`${idpName} identity`, subject);
      await this.#links.unlink(userId, idpName, subject, t);
      await this.#audit.record({ kind: 'admin.user.identity_unlinked', ...actorFields(by), subject: userId, details: { identity: identityView(linked) } }, t);
    });
  }

  #totpUri(username: string, secret: string): string {
    return generateURI({ issuer: new URL(this.#issuer).host, label: username, secret });
  }
}

function actorFields(by: Actor) {
  return { actor: by.actor, address: by.address };
}

function identityView(l: LinkedIdentity): IdentityView {
  return { idp: l.idpName, issuer: l.issuer, subject: l.subject, created: new Date(l.createdAt).toISOString() };
}

function duplicate(path: string, message: string): AdminError {
  return new AdminError(409, 'duplicate', message, [{ path, message }]);
}

function notFound(what: string, id: string): AdminError {
  return new AdminError(404, 'not_found', `no ${what} "${id}"`);
}

function invalid(path: string, message: string): AdminError {
  return new AdminError(400, 'invalid_request', `${path}: ${message}`, [{ path, message }]);
}
