import { randomUUID } from 'node:crypto';
import type { Transaction } from 'sequelize';
import type { Database } from './database.ts';
import type { TableCache } from './table-caches.ts';

export type User = {
  id: string;
  username: string;
  email: string | null;
  /** the user proved they read mail at `email` */
  emailVerified: boolean;
  passwordHash: string | null;
  roles: string[];
  disabled: boolean;
  /** an admin asked that the user set up a second factor at the next login */
  enrolmentRequired: boolean;
  /** the language the user last signed in with, if known; from the cache of users, it may be behind another process's write (mails read it afresh: Mailer.speakerFor) */
  locale: string | null;
};

type Row = {
  id: string; username: string; email: string | null; email_verified: boolean | number | null; password_hash: string | null;
  roles: string; disabled: boolean | number; enrolment_required: boolean | number; locale: string | null;
};

const SELECT = 'SELECT * FROM users';

/** Usernames compare after Unicode NFKC and case folding, so "Alice" and "ａｌｉｃｅ" are one account. */
export function normaliseUsername(username: string): string {
  return username.normalize('NFKC').trim().toLowerCase();
}

/** Users and their passwords; their second factors are in Credentials. */
export class Users {
  readonly #db: Database;
  /**
   * Users by id: every page of a login and every token for a user asks for the account
   * (the plan, findAccount, the consent page). Emptied by any write to users, here or in
   * another process (server/storage/table-caches.ts), so a disabled account is refused
   * at once; users are written rarely (admin changes, passwords, a new language).
   */
  readonly #byId: TableCache<Row | undefined>;

  constructor(db: Database) {
    this.#db = db;
    this.#byId = db.cache('users');
  }

  static #toUser(row: Row): User {
    return {
      id: row.id, username: row.username, email: row.email, emailVerified: Boolean(row.email_verified) && row.email !== null, passwordHash: row.password_hash,
      roles: JSON.parse(row.roles) as string[], disabled: Boolean(row.disabled),
      enrolmentRequired: Boolean(row.enrolment_required), locale: row.locale ?? null,
    };
  }

  /** `transaction`: create the user as part of a larger change (e.g. with its first linked identity). */
  async create(input: { username: string; passwordHash: string | null; email?: string | null; roles?: string[] }, transaction?: Transaction): Promise<User> {
    const id = randomUUID();
    const now = new Date();
    await this.#db.sequelize.getQueryInterface().bulkInsert('users', [{
      id, username: normaliseUsername(input.username), email: input.email ?? null, password_hash: input.passwordHash,
      roles: JSON.stringify(input.roles ?? []), disabled: false,
      created_at: now, updated_at: now,
    }], { transaction });
    const [row] = await this.#db.select<Row>(`${SELECT} WHERE id = :id`, { id }, transaction);
    return Users.#toUser(row!);
  }

  async byId(id: string, transaction?: Transaction): Promise<User | undefined> {
    // Inside a transaction, read from it, never the cache.
    const read = async () => (await this.#db.select<Row>(`${SELECT} WHERE id = :id`, { id }, transaction))[0];
    const row = transaction ? await read() : await this.#byId.get(id, read);
    return row && Users.#toUser(row);
  }

  async byUsername(username: string, transaction?: Transaction): Promise<User | undefined> {
    const read = async () => (await this.#db.select<Row>(`${SELECT} WHERE username = :u`, { u: normaliseUsername(username) }, transaction))[0];
    // Not cached by name (a rename would need a second key), but kept by id: the sign-in goes on to ask for it by id.
    const row = transaction ? await read() : await this.#byId.through(read, (found) => found?.id);
    return row && Users.#toUser(row);
  }

  /** The one user whose verified address this is (case-insensitive); none when several share it. */
  async byVerifiedEmail(email: string): Promise<User | undefined> {
    const rows = await this.#db.select<Row>(`${SELECT} WHERE LOWER(email) = :e AND email_verified = :yes`, { e: email.trim().toLowerCase(), yes: true });
    return rows.length === 1 ? Users.#toUser(rows[0]!) : undefined;
  }

  /**
   * Remembers the language the user signs in with; writes only when it changed. The write
   * leaves the caches of users alone: a user's first login would otherwise empty every
   * process's cache of users (measured: 3.3 reads of users by id per login under the
   * benchmark's four concurrent logins instead of 1). So a cached user's `locale` may be
   * behind another process's write: mails read it afresh (`localeOf`).
   */
  async setLocale(id: string, locale: string): Promise<void> {
    if ((await this.byId(id))?.locale === locale) return;
    await this.#db.change('UPDATE users SET locale = :locale WHERE id = :id AND (locale IS NULL OR locale <> :locale)', { id, locale }, undefined, { keepCaches: true });
    this.#byId.patch(id, (row) => row && { ...row, locale });
  }

  /** The language the user last signed in with, as stored now (not from the cache). */
  async localeOf(id: string): Promise<string | null> {
    const [row] = await this.#db.select<{ locale: string | null }>('SELECT locale FROM users WHERE id = :id', { id });
    return row?.locale ?? null;
  }

  /** Sets the address; `verified` only after the user followed a link mailed to it. */
  async setEmail(id: string, email: string | null, verified: boolean): Promise<void> {
    await this.#db.change('UPDATE users SET email = :email, email_verified = :verified, updated_at = :now WHERE id = :id', { id, email, verified, now: new Date() });
  }

  /**
   * Replaces the password only if it is still `previousHash`: of two resets racing, or a
   * reset racing a change, exactly one wins.
   */
  async replacePassword(id: string, previousHash: string | null, hash: string): Promise<boolean> {
    const changed = previousHash === null
      ? await this.#db.change('UPDATE users SET password_hash = :hash, updated_at = :now WHERE id = :id AND password_hash IS NULL', { id, hash, now: new Date() })
      : await this.#db.change('UPDATE users SET password_hash = :hash, updated_at = :now WHERE id = :id AND password_hash = :previousHash', { id, hash, previousHash, now: new Date() });
    return changed === 1;
  }

  /** How many accounts there are, and how many of them are disabled (the console's overview). */
  async count(): Promise<{ total: number; disabled: number }> {
    const [row] = await this.#db.select<{ total: number | string; disabled: number | string | null }>(
      'SELECT COUNT(*) AS total, SUM(CASE WHEN disabled THEN 1 ELSE 0 END) AS disabled FROM users', {});
    return { total: Number(row?.total ?? 0), disabled: Number(row?.disabled ?? 0) };
  }

  /** Ordered by username; `search` matches a part of the username or email, `role` one of the roles. */
  async list(filter: { search?: string; role?: string; disabled?: boolean } = {}, transaction?: Transaction): Promise<User[]> {
    const rows = await this.#db.select<Row>(`${SELECT} ORDER BY username`, {}, transaction);
    const search = filter.search?.toLowerCase();
    return rows.map((r) => Users.#toUser(r)).filter((u) => (search === undefined || u.username.includes(search) || (u.email ?? '').toLowerCase().includes(search))
      && (filter.role === undefined || u.roles.includes(filter.role)) && (filter.disabled === undefined || u.disabled === filter.disabled));
  }

  /** Replaces the given fields; false when there is no such user. */
  async update(id: string, changes: { email?: string | null; emailVerified?: boolean; passwordHash?: string | null; roles?: string[]; disabled?: boolean }, transaction?: Transaction): Promise<boolean> {
    const sets: string[] = [];
    const values: Record<string, unknown> = { id, now: new Date() };
    if (changes.email !== undefined) { sets.push('email = :email'); values.email = changes.email; }
    if (changes.emailVerified !== undefined) {
      sets.push('email_verified = :verified'); values.verified = changes.emailVerified;
    } else if (changes.email !== undefined) {
      // A new address is unverified until its owner follows a link mailed to it (server/routes/account-email.ts).
      // (its own parameter: PostgreSQL deduces one type per parameter, and a comparison and an assignment disagree)
      sets.push('email_verified = CASE WHEN email = :sameEmail THEN email_verified ELSE :unverified END'); values.sameEmail = changes.email; values.unverified = false;
    }
    if (changes.passwordHash !== undefined) { sets.push('password_hash = :passwordHash'); values.passwordHash = changes.passwordHash; }
    if (changes.roles !== undefined) { sets.push('roles = :roles'); values.roles = JSON.stringify(changes.roles); }
    if (changes.disabled !== undefined) { sets.push('disabled = :disabled'); values.disabled = changes.disabled; }
    return (await this.#db.change(`UPDATE users SET ${[...sets, 'updated_at = :now'].join(', ')} WHERE id = :id`, values, transaction)) === 1;
  }

  async remove(id: string, transaction?: Transaction): Promise<boolean> {
    return (await this.#db.change('DELETE FROM users WHERE id = :id', { id }, transaction)) === 1;
  }

  async setPasswordHash(id: string, passwordHash: string): Promise<void> {
    await this.#db.change('UPDATE users SET password_hash = :passwordHash, updated_at = :now WHERE id = :id', { id, passwordHash, now: new Date() });
  }

  /** An admin's "set up a second factor at the next login"; cleared once the user has one. */
  async setEnrolmentRequired(id: string, required: boolean, transaction?: Transaction): Promise<void> {
    await this.#db.change('UPDATE users SET enrolment_required = :required, updated_at = :now WHERE id = :id', { id, required, now: new Date() }, transaction);
  }
}
