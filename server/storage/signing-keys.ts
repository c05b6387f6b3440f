import { exportJWK, generateKeyPair, calculateJwkThumbprint, type JWK } from 'jose';
import type { Transaction } from 'sequelize';
import type { Database } from './database.ts';
import type { Keyring } from '../security/keyring.ts';

/**
 * RS256 first: OpenID Connect's default id_token algorithm, what relying parties expect
 * unless they register another. ES256 and EdDSA for clients that ask for them.
 */
export const ALGORITHMS = {
  RS256: () => generateKeyPair('RS256', { modulusLength: 2048, extractable: true }),
  ES256: () => generateKeyPair('ES256', { extractable: true }),
  EdDSA: () => generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true }),
} as const;
export type SigningAlg = keyof typeof ALGORITHMS;

export type SigningKey = { kid: string; alg: SigningAlg; createdAt: number; supersededAt: number | null };

type Row = { kid: string; alg: SigningAlg; jwk: string; created_at: number | string; superseded_at: number | string | null };

/**
 * The broker's signing keys, sealed with the keyring. Per algorithm the newest key signs;
 * older ones (superseded) stay published so tokens they signed still verify, until retired.
 */
export class SigningKeys {
  readonly #db: Database;
  readonly #keyring: Keyring;

  constructor(db: Database, keyring: Keyring) {
    this.#db = db;
    this.#keyring = keyring;
  }

  /** Newest first within each algorithm. */
  async list(transaction?: Transaction): Promise<SigningKey[]> {
    const rows = await this.#db.select<Row>('SELECT kid, alg, created_at, superseded_at FROM signing_keys ORDER BY alg, created_at DESC, kid', {}, transaction);
    return rows.map((r) => ({ kid: r.kid, alg: r.alg, createdAt: Number(r.created_at), supersededAt: r.superseded_at === null ? null : Number(r.superseded_at) }));
  }

  /** The private keys as a JWKS, the signing key of each algorithm before the older ones. */
  async jwks(): Promise<{ keys: JWK[] }> {
    const rows = await this.#db.select<Row>('SELECT kid, jwk, superseded_at FROM signing_keys ORDER BY superseded_at IS NOT NULL, created_at DESC, kid', {});
    return { keys: rows.map((r) => JSON.parse(this.#keyring.decrypt(r.jwk, 'signing-key')) as JWK) };
  }

  /** Changes whenever a key is added, superseded or removed (by any process). */
  async version(): Promise<string> {
    const [row] = await this.#db.select<{ n: number; created: number | null; superseded: number | null }>(
      'SELECT COUNT(*) AS n, MAX(created_at) AS created, MAX(superseded_at) AS superseded FROM signing_keys', {});
    return `${row!.n}:${row!.created}:${row!.superseded}`;
  }

  /** A new key for `alg`, which signs from now on; the previous ones are marked superseded. */
  async add(alg: SigningAlg, transaction?: Transaction): Promise<SigningKey> {
    const { privateKey } = await ALGORITHMS[alg]();
    const jwk = await exportJWK(privateKey);
    const kid = await calculateJwkThumbprint(jwk);
    const now = Date.now();
    await this.#db.change('UPDATE signing_keys SET superseded_at = :now WHERE alg = :alg AND superseded_at IS NULL', { alg, now }, transaction);
    await this.#db.change('INSERT INTO signing_keys (kid, alg, jwk, created_at, superseded_at) VALUES (:kid, :alg, :jwk, :now, NULL)',
      { kid, alg, jwk: this.#keyring.encrypt(JSON.stringify({ ...jwk, kid, alg, use: 'sig' }), 'signing-key'), now }, transaction);
    return { kid, alg, createdAt: now, supersededAt: null };
  }

  async remove(kid: string, transaction?: Transaction): Promise<boolean> {
    return (await this.#db.change('DELETE FROM signing_keys WHERE kid = :kid', { kid }, transaction)) === 1;
  }

  /**
   * First start: a key for every algorithm that has none. Processes started together take
   * turns (on SQLite the write lock, which every transaction takes as it begins; on
   * PostgreSQL an advisory lock), so they share one set.
   */
  async ensure(): Promise<void> {
    const postgres = this.#db.dialect === 'postgres';
    await this.#db.transaction(async (transaction) => {
      if (postgres) await this.#db.sequelize.query('SELECT pg_advisory_xact_lock(7726002)', { transaction });
      const have = new Set((await this.list(transaction)).map((k) => k.alg));
      for (const alg of Object.keys(ALGORITHMS) as SigningAlg[]) if (!have.has(alg)) await this.add(alg, transaction);
    });
  }
}
