import type { Transaction } from 'sequelize';
import type { Database } from '../storage/database.ts';
import type { Users, User } from '../storage/users.ts';

/** An external identity: who the upstream says the user is. Never an email address. */
export type ExternalIdentity = { idpName: string; issuer: string; subject: string };

export type LinkedIdentity = ExternalIdentity & { accountId: string; createdAt: number };

type Row = { idp_name: string; issuer: string; subject: string; account_id: string; created_at: Date | string };

const toLink = (r: Row): LinkedIdentity => ({
  idpName: r.idp_name, issuer: r.issuer, subject: r.subject, accountId: r.account_id, createdAt: new Date(r.created_at).getTime(),
});

/**
 * Links between external identities (issuer + subject) and local accounts. The pair is the
 * primary key, so one external identity belongs to at most one account, even when two
 * requests race to link it.
 */
export class LinkedIdentities {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  async find(issuer: string, subject: string, transaction?: Transaction): Promise<LinkedIdentity | undefined> {
    const [row] = await this.#db.select<Row>('SELECT * FROM linked_identities WHERE issuer = :issuer AND subject = :subject', { issuer, subject }, transaction);
    return row && toLink(row);
  }

  async forAccount(accountId: string, transaction?: Transaction): Promise<LinkedIdentity[]> {
    return (await this.#db.select<Row>('SELECT * FROM linked_identities WHERE account_id = :accountId ORDER BY idp_name, subject', { accountId }, transaction)).map(toLink);
  }

  /**
   * Links `identity` to `accountId`. 'linked' when new, 'already' when it was linked to
   * this account before, 'taken' when another account holds it (nothing changes).
   */
  async link(identity: ExternalIdentity, accountId: string, transaction?: Transaction): Promise<'linked' | 'already' | 'taken'> {
    const inserted = await this.#db.change(
      `INSERT INTO linked_identities (issuer, subject, idp_name, account_id, created_at) VALUES (:issuer, :subject, :idpName, :accountId, :now)
       ON CONFLICT (issuer, subject) DO NOTHING`,
      { ...identity, accountId, now: new Date() }, transaction);
    if (inserted === 1) return 'linked';
    return (await this.find(identity.issuer, identity.subject, transaction))?.accountId === accountId ? 'already' : 'taken';
  }

  /** Removes the account's links at `idpName` (all of them, or only `subject`); the number removed. */
  async unlink(accountId: string, idpName: string, subject?: string, transaction?: Transaction): Promise<number> {
    return this.#db.change(
      `DELETE FROM linked_identities WHERE account_id = :accountId AND idp_name = :idpName${subject === undefined ? '' : ' AND subject = :subject'}`,
      { accountId, idpName, subject }, transaction);
  }

  /** Removes every link of the account (when it is deleted); the number removed. */
  async unlinkAll(accountId: string, transaction?: Transaction): Promise<number> {
    return this.#db.change('DELETE FROM linked_identities WHERE account_id = :accountId', { accountId }, transaction);
  }

  /**
   * Just-in-time provisioning: a new account without a password, linked to `identity`, in
   * one transaction. When a concurrent login provisioned the same identity first, that
   * account is returned and nothing of ours is kept.
   */
  async provision(users: Users, identity: ExternalIdentity, profile: { username: string; email: string | null }): Promise<string> {
    try {
      return await this.#db.transaction(async (transaction) => {
        const user: User = await users.create({ username: profile.username, passwordHash: null, email: profile.email }, transaction);
        await this.#db.change(
          'INSERT INTO linked_identities (issuer, subject, idp_name, account_id, created_at) VALUES (:issuer, :subject, :idpName, :accountId, :now)',
          { ...identity, accountId: user.id, now: new Date() }, transaction);
        return user.id;
      });
    } catch (err) {
      const winner = await this.find(identity.issuer, identity.subject);
      if (winner) return winner.accountId;
      throw err;
    }
  }
}
