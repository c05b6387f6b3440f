import type { Transaction } from 'sequelize';
import type { Database } from './database.ts';
import digest from '../security/digest.ts';

/** A SAML 2.0 identity provider trusted to sign assertions for the SAML2 bearer grant. */
export type SamlIdp = {
  name: string;
  /** its entityID, as it appears in an assertion's <Issuer> */
  issuer: string;
  /** the PEM certificate whose key signs its assertions */
  certificate: string;
};

const epoch = () => Math.floor(Date.now() / 1000);

/** Trusted SAML identity providers, and the assertion ids already exchanged. */
export class SamlIdps {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  /** Adds an IdP; false when the name or the issuer is taken (either unique key refuses the row). */
  async add(idp: SamlIdp, transaction?: Transaction): Promise<boolean> {
    return (await this.#db.change(
      'INSERT INTO saml_idps (name, issuer, certificate, created_at) VALUES (:name, :issuer, :certificate, :now) ON CONFLICT DO NOTHING',
      { ...idp, now: new Date() }, transaction)) === 1;
  }

  async list(transaction?: Transaction): Promise<SamlIdp[]> {
    return this.#db.select<SamlIdp>('SELECT name, issuer, certificate FROM saml_idps ORDER BY name', {}, transaction);
  }

  async byIssuer(issuer: string): Promise<SamlIdp | undefined> {
    const [row] = await this.#db.select<SamlIdp>('SELECT name, issuer, certificate FROM saml_idps WHERE issuer = :issuer', { issuer });
    return row;
  }

  async remove(name: string, transaction?: Transaction): Promise<boolean> {
    return (await this.#db.change('DELETE FROM saml_idps WHERE name = :name', { name }, transaction)) === 1;
  }

  /**
   * Records that the assertion `id` of `issuer` was exchanged. True for exactly one caller,
   * even when requests race: the primary key is the lock. Kept until the assertion
   * expires, after which its time checks refuse it anyway.
   */
  async useAssertion(issuer: string, id: string, expiresAt: number): Promise<boolean> {
    await this.#db.change('DELETE FROM saml_assertions_used WHERE expires_at < :now', { now: epoch() });
    return (await this.#db.change(
      'INSERT INTO saml_assertions_used (id, expires_at) VALUES (:id, :expiresAt) ON CONFLICT (id) DO NOTHING',
      { id: digest(`${issuer}\n${id}`), expiresAt })) === 1;
  }
}
