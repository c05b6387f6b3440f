import type { Transaction } from 'sequelize';
import type { TableCache } from '../storage/table-caches.ts';
import type { Database } from '../storage/database.ts';
import type { Keyring } from '../security/keyring.ts';

/** Which upstream claim fills which local field when a user is provisioned just in time. */
export type ClaimMapping = { username?: string; email?: string };

/** An upstream OpenID Connect provider a chain can name (e.g. "yahoo"). */
export type IdentityProvider = {
  name: string;
  /** issuer identifier; discovery is `<issuer>/.well-known/openid-configuration` */
  issuer: string;
  clientId: string;
  /** plaintext (decrypted) */
  clientSecret: string;
  scopes: string[];
  displayName: string;
  claimMapping: ClaimMapping;
  /** create a local account on first login when the external identity is not linked */
  jit: boolean;
  /** an admin trusts this provider's amr: its methods count (RFC 8176 names, after amrMap) */
  trustUpstreamAmr?: boolean;
  /** this provider's method names to RFC 8176 ones (Glewlwyd's "password" → "pwd") */
  amrMap?: Record<string, string>;
  /**
   * may its addresses be loopback, private or link-local (an on-premise provider, a test
   * stand-in)? Off by default: an issuer URL must not reach into the broker's own network.
   */
  allowPrivateNetwork: boolean;
  updatedAt: number;
};

/** What is written: `allowPrivateNetwork` is off unless said. */
export type IdentityProviderInput = Omit<IdentityProvider, 'updatedAt' | 'allowPrivateNetwork'> & { allowPrivateNetwork?: boolean };

/** Presets: the issuer and display name of well-known providers, so only client id and secret are needed. */
export const PRESETS: Record<string, { issuer: string; displayName: string }> = {
  yahoo: { issuer: 'https://api.login.yahoo.com', displayName: 'Yahoo' },
  google: { issuer: 'https://accounts.google.com', displayName: 'Google' },
  // "common" accepts work, school and personal Microsoft accounts; openid-client checks the tenant's issuer.
  microsoft: { issuer: 'https://login.microsoftonline.com/common/v2.0', displayName: 'Microsoft' },
};

export const DEFAULT_SCOPES = ['openid', 'profile', 'email'];

/** Names a chain can use: the same rule as every authenticator name. */
export const IDP_NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;

/**
 * The upstream must be https, except on the loopback interface (a development or test
 * stand-in): an id_token fetched over plain http from elsewhere could be forged in transit.
 */
export function checkIssuer(issuer: string): string | undefined {
  let url: URL;
  try {
    url = new URL(issuer);
  } catch {
    return `"${issuer}" is not an absolute URL`;
  }
  if (url.search || url.hash) return `issuer "${issuer}" must not have a query or fragment`;
  if (url.username || url.password) return 'an issuer URL must not hold a username or password';
  if (url.protocol === 'https:') return undefined;
  if (url.protocol === 'http:' && isLoopback(url)) return undefined;
  return `issuer "${issuer}" must be https:// (plain http is accepted only on localhost)`;
}

export function isLoopback(url: URL): boolean {
  return url.hostname === 'localhost' || url.hostname === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(url.hostname);
}

type Row = {
  name: string; issuer: string; client_id: string; client_secret: string; scopes: string;
  trust_upstream_amr?: boolean | number; amr_map?: string;
  display_name: string; claim_mapping: string; jit: boolean | number; allow_private_network: boolean | number; updated_at: Date | string;
};

/** Stored identity providers. Client secrets are sealed with the keyring, bound to the provider's name. */
export class IdentityProviders {
  readonly #db: Database;
  readonly #keyring: Keyring;

  constructor(db: Database, keyring: Keyring) {
    this.#db = db;
    this.#keyring = keyring;
    this.#all = db.cache('identity_providers');
  }

  #toProvider(row: Row): IdentityProvider {
    return {
      name: row.name, issuer: row.issuer, clientId: row.client_id,
      clientSecret: this.#keyring.decrypt(row.client_secret, `idp:${row.name}`),
      scopes: row.scopes.split(' ').filter(Boolean), displayName: row.display_name,
      claimMapping: JSON.parse(row.claim_mapping) as ClaimMapping, jit: Boolean(row.jit),
      trustUpstreamAmr: Boolean(row.trust_upstream_amr), amrMap: JSON.parse(row.amr_map ?? '{}') as Record<string, string>,
      allowPrivateNetwork: Boolean(row.allow_private_network),
      updatedAt: new Date(row.updated_at).getTime(),
    };
  }

  /** Adds a provider; false when the name is taken. */
  async add(idp: IdentityProviderInput, transaction?: Transaction): Promise<boolean> {
    const now = new Date();
    return (await this.#db.change(
      `INSERT INTO identity_providers (name, issuer, client_id, client_secret, scopes, display_name, claim_mapping, jit, allow_private_network, created_at, updated_at)
       VALUES (:name, :issuer, :clientId, :secret, :scopes, :displayName, :mapping, :jit, :allowPrivate, :now, :now) ON CONFLICT (name) DO NOTHING`,
      {
        name: idp.name, issuer: idp.issuer, clientId: idp.clientId, secret: this.#keyring.encrypt(idp.clientSecret, `idp:${idp.name}`),
        scopes: idp.scopes.join(' '), displayName: idp.displayName, mapping: JSON.stringify(idp.claimMapping), jit: idp.jit,
        allowPrivate: idp.allowPrivateNetwork ?? false, now,
      }, transaction)) === 1;
  }

  /**
   * Replaces a provider's settings (not its name); the client secret only when one is
   * given. The new `updatedAt` makes the upstream configuration be discovered afresh.
   * False when there is no provider by that name.
   */
  async update(idp: Omit<IdentityProviderInput, 'clientSecret'> & { clientSecret?: string }, transaction?: Transaction): Promise<boolean> {
    const secret = idp.clientSecret === undefined ? {} : { secret: this.#keyring.encrypt(idp.clientSecret, `idp:${idp.name}`) };
    return (await this.#db.change(
      `UPDATE identity_providers SET issuer = :issuer, client_id = :clientId, ${'secret' in secret ? 'client_secret = :secret, ' : ''}scopes = :scopes,
       display_name = :displayName, claim_mapping = :mapping, jit = :jit, allow_private_network = :allowPrivate, updated_at = :now WHERE name = :name`,
      {
        name: idp.name, issuer: idp.issuer, clientId: idp.clientId, ...secret, scopes: idp.scopes.join(' '), displayName: idp.displayName,
        mapping: JSON.stringify(idp.claimMapping), jit: idp.jit, allowPrivate: idp.allowPrivateNetwork ?? false, now: new Date(),
      }, transaction)) === 1;
  }

  /**
   * Whether this provider's amr counts (and how its names map to RFC 8176): a trusted
   * provider's `otp` satisfies a later TOTP step and can make a login `mfa`. False when
   * there is no provider by that name.
   */
  async setAmrTrust(name: string, trust: boolean, amrMap: Record<string, string>, transaction?: Transaction): Promise<boolean> {
    return (await this.#db.change(
      'UPDATE identity_providers SET trust_upstream_amr = :trust, amr_map = :map, updated_at = :now WHERE name = :name',
      { name, trust, map: JSON.stringify(amrMap), now: new Date() }, transaction)) === 1;
  }

  async get(name: string, transaction?: Transaction): Promise<IdentityProvider | undefined> {
    const [row] = await this.#db.select<Row>('SELECT * FROM identity_providers WHERE name = :name', { name }, transaction);
    return row && this.#toProvider(row);
  }

  /** Read at every step of every login: kept in memory, emptied on any change (server/storage/table-caches.ts). */
  readonly #all: TableCache<readonly IdentityProvider[]>;

  /** Every provider, by name; the same objects until the table changes. */
  async list(): Promise<IdentityProvider[]> {
    return [...await this.#all.get('', async () => (await this.#db.select<Row>('SELECT * FROM identity_providers ORDER BY name', {})).map((r) => this.#toProvider(r)))];
  }

  /** Removes a provider; false when there was none by that name. Linked identities stay (re-adding restores them). */
  async remove(name: string, transaction?: Transaction): Promise<boolean> {
    return (await this.#db.change('DELETE FROM identity_providers WHERE name = :name', { name }, transaction)) === 1;
  }
}
