import type { Transaction } from 'sequelize';
import type { Database } from './database.ts';
import type { Keyring } from '../security/keyring.ts';
import type { TableCache } from './table-caches.ts';

/** Per-client settings that are not protocol metadata. */
export type ClientSettings = {
  name?: string;
  postLogoutRedirectUris?: string[];
  /** API scopes this client's tokens may carry besides the OpenID ones (device_ scopes need none) */
  scopes?: string[];
  /** access token lifetime in seconds for user tokens (code, password, refresh, SAML2 bearer); negative: never expires */
  userTokenTtl?: number;
  /** access token lifetime in seconds for application tokens (client_credentials); negative: never expires */
  appTokenTtl?: number;
  /** application tokens as opaque strings (default, introspected) or RFC 9068 JWTs (validated locally, not revocable) */
  appTokenFormat?: 'opaque' | 'jwt';
  /** an admin allowed negative lifetimes (tokens that never expire) for this client */
  allowNonExpiring?: boolean;
  /** this client may be granted the `admin` scope and call the admin API (server/admin/principal.ts) */
  adminApi?: boolean;
  /** an image shown with the name */
  logoUri?: string;
  /** the JWS algorithm of its ID tokens (RS256 when absent) */
  idTokenSignedResponseAlg?: 'RS256' | 'ES256' | 'EdDSA';
  /** names of the trusted SAML IdPs whose assertions this client may exchange (SAML2 bearer grant); none when absent */
  samlIdps?: string[];
  /** who may set up a user's first second factor for this client's chain (default: config factors.enrolment) */
  enrolment?: 'at-login' | 'account-only' | 'admin-only';
  /** how the client authenticates at /token, /introspect, /revoke and /request (default: client_secret_basic, `none` without a secret) */
  tokenEndpointAuthMethod?: TokenEndpointAuthMethod;
  /** the client's public keys for private_key_jwt (inline; at most one of jwks and jwksUri) */
  jwks?: { keys: Record<string, unknown>[] };
  /** where the client publishes its public keys for private_key_jwt */
  jwksUri?: string;
  /** OpenID Connect Back-Channel Logout 1.0: where logout tokens are POSTed, and whether they carry `sid` */
  backchannelLogoutUri?: string;
  backchannelLogoutSessionRequired?: boolean;
  /** sign-out at /logout revokes this client's grants (tokens and consent), even those asked with offline_access */
  logoutEndsGrants?: boolean;
  /** authorization requests must be pushed first (RFC 9126 PAR) */
  requirePushedAuthorizationRequests?: boolean;
  /** access tokens must be DPoP-bound (RFC 9449) */
  dpopBoundAccessTokens?: boolean;
  /** its jwks_uri and back-channel logout URI may be on loopback, private or link-local addresses */
  allowPrivateNetwork?: boolean;
  /** user access tokens as opaque strings (default) or RFC 9068 JWTs for the client's API resource */
  userTokenFormat?: 'opaque' | 'jwt';
  /** the login pages' accent colour for this application, #rrggbb (server/routes/branding.ts) */
  brandColor?: string;
  /** its privacy policy and terms of service, linked from every page of its login */
  policyUri?: string;
  tosUri?: string;
  /** its home page: where "Back to <name>" on an error page leads */
  clientUri?: string;
  /** the operator's own application: no consent page (the admin console is one) */
  firstParty?: boolean;
};

/** Client authentication methods a client may be registered with (discovery lists exactly these and `none`). */
export const TOKEN_ENDPOINT_AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'client_secret_jwt', 'private_key_jwt'] as const;
export type TokenEndpointAuthMethod = typeof TOKEN_ENDPOINT_AUTH_METHODS[number];

export type ClientRecord = {
  clientId: string;
  /** plaintext secret (decrypted); absent for public clients */
  secret: string | null;
  redirectUris: string[];
  grantTypes: string[];
  /** the chain in its text form, e.g. "password,totp"; parsed by server/flow/chain.ts */
  chain: string;
  settings: ClientSettings;
};

type Row = { client_id: string; secret: string | null; redirect_uris: string; grant_types: string; chain: string; settings: string };

/** Registered clients. Secrets are sealed with the keyring, bound to the client id. */
export class Clients {
  readonly #db: Database;
  readonly #keyring: Keyring;

  constructor(db: Database, keyring: Keyring) {
    this.#db = db;
    this.#keyring = keyring;
    this.#cache = db.cache('clients');
  }

  /**
   * Sealed secret → plaintext, for the clients seen lately: every token request reads its
   * client, and decrypting once per request showed in profiles. Keyed by the ciphertext
   * (and the client id it is bound to), so a changed secret is a new entry; the database
   * stays the only source of truth.
   */
  readonly #opened = new Map<string, string>();

  #secret(row: Row & { secret: string }): string {
    const key = `${row.client_id}\n${row.secret}`;
    let plain = this.#opened.get(key);
    if (plain === undefined) {
      plain = this.#keyring.decrypt(row.secret, `client:${row.client_id}`);
      if (this.#opened.size >= 1000) this.#opened.clear();
      this.#opened.set(key, plain);
    }
    return plain;
  }

  #toRecord(row: Row): ClientRecord {
    return {
      clientId: row.client_id,
      secret: row.secret === null ? null : this.#secret(row as Row & { secret: string }),
      redirectUris: JSON.parse(row.redirect_uris) as string[],
      grantTypes: JSON.parse(row.grant_types) as string[],
      chain: row.chain,
      settings: JSON.parse(row.settings) as ClientSettings,
    };
  }

  /**
   * Every protocol request reads its client: kept in memory, emptied on any change
   * (server/storage/table-caches.ts). Inside a transaction, read from it, never the cache.
   */
  readonly #cache: TableCache<ClientRecord | undefined>;

  async get(clientId: string, transaction?: Transaction): Promise<ClientRecord | undefined> {
    const read = async () => {
      const [row] = await this.#db.select<Row>('SELECT * FROM clients WHERE client_id = :clientId', { clientId }, transaction);
      return row && this.#toRecord(row);
    };
    return transaction ? read() : this.#cache.get(clientId, read);
  }

  /** How many clients there are (the console's overview). */
  async count(): Promise<number> {
    const [row] = await this.#db.select<{ n: number | string }>('SELECT COUNT(*) AS n FROM clients', {});
    return Number(row?.n ?? 0);
  }

  async list(transaction?: Transaction): Promise<ClientRecord[]> {
    return (await this.#db.select<Row>('SELECT * FROM clients ORDER BY client_id', {}, transaction)).map((r) => this.#toRecord(r));
  }

  /** Inserts a client; false when the id is taken (nothing is written then). */
  async create(client: ClientRecord, transaction?: Transaction): Promise<boolean> {
    const now = new Date();
    const changed = await this.#db.change(
      `INSERT INTO clients (client_id, secret, redirect_uris, grant_types, chain, settings, created_at, updated_at)
       VALUES (:clientId, :secret, :redirectUris, :grantTypes, :chain, :settings, :now, :now)
       ON CONFLICT (client_id) DO NOTHING`,
      {
        clientId: client.clientId,
        secret: client.secret === null ? null : this.#keyring.encrypt(client.secret, `client:${client.clientId}`),
        redirectUris: JSON.stringify(client.redirectUris),
        grantTypes: JSON.stringify(client.grantTypes),
        chain: client.chain,
        settings: JSON.stringify(client.settings),
        now,
      }, transaction);
    return changed === 1;
  }

  /** Replaces the given fields of a client (the secret in plaintext, sealed here); false when there is no such client. */
  async update(clientId: string, changes: Partial<Omit<ClientRecord, 'clientId'>>, transaction?: Transaction): Promise<boolean> {
    const sets: string[] = [];
    const values: Record<string, unknown> = { clientId, now: new Date() };
    if (changes.secret !== undefined) {
      sets.push('secret = :secret');
      values.secret = changes.secret === null ? null : this.#keyring.encrypt(changes.secret, `client:${clientId}`);
    }
    for (const [key, column] of [['redirectUris', 'redirect_uris'], ['grantTypes', 'grant_types'], ['settings', 'settings']] as const) {
      if (changes[key] === undefined) continue;
      sets.push(`${column} = :${key}`);
      values[key] = JSON.stringify(changes[key]);
    }
    if (changes.chain !== undefined) {
      sets.push('chain = :chain');
      values.chain = changes.chain;
    }
    return (await this.#db.change(`UPDATE clients SET ${[...sets, 'updated_at = :now'].join(', ')} WHERE client_id = :clientId`, values, transaction)) === 1;
  }

  /** Replaces a client's chain; false when there is no such client. */
  async setChain(clientId: string, chain: string, transaction?: Transaction): Promise<boolean> {
    return this.update(clientId, { chain }, transaction);
  }

  async remove(clientId: string, transaction?: Transaction): Promise<boolean> {
    return (await this.#db.change('DELETE FROM clients WHERE client_id = :clientId', { clientId }, transaction)) === 1;
  }
}
