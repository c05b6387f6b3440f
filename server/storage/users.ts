import { randomUUID } from 'node:crypto';
import type { Transaction } from 'sequelize';
import type { Database } from './database.ts';
import type { Keyring } from '../security/keyring.ts';

export type User = {
  id: string;
  username: string;
  email: string | null;
  passwordHash: string | null;
  hasTotp: boolean;
  roles: string[];
  disabled: boolean;
};

type Row = {
  id: string; username: string; email: string | null; password_hash: string | null;
  totp_secret: string | null; roles: string; disabled: boolean | number;
};

/** Usernames compare after Unicode NFKC and case folding, so "Alice" and "ａｌｉｃｅ" are one account. */
export function normaliseUsername(username: string): string {
  return username.normalize('NFKC').trim().toLowerCase();
}

/** Users and their secrets. TOTP secrets are sealed with the keyring, bound to the user id. */
export class Users {
  readonly #db: Database;
  readonly #keyring: Keyring;

  constructor(db: Database, keyring: Keyring) {
    this.#db = db;
    this.#keyring = keyring;
  }

  static #toUser(row: Row): User {
    return {
      id: row.id, username: row.username, email: row.email, passwordHash: row.password_hash,
      hasTotp: row.totp_secret !== null, roles: JSON.parse(row.roles) as string[], disabled: Boolean(row.disabled),
    };
  }

  /** `transaction`: create the user as part of a larger change (e.g. with its first linked identity). */
  async create(input: { username: string; passwordHash: string | null; email?: string | null; roles?: string[] }, transaction?: Transaction): Promise<User> {
    const id = randomUUID();
    const now = new Date();
    await this.#db.sequelize.getQueryInterface().bulkInsert('users', [{
      id, username: normaliseUsername(input.username), email: input.email ?? null, password_hash: input.passwordHash,
      totp_secret: null, totp_last_step: null, roles: JSON.stringify(input.roles ?? []), disabled: false,
      created_at: now, updated_at: now,
    }], { transaction });
    const [row] = await this.#db.select<Row>('SELECT * FROM users WHERE id = :id', { id }, transaction);
    return Users.#toUser(row!);
  }

  async byId(id: string, transaction?: Transaction): Promise<User | undefined> {
    const [row] = await this.#db.select<Row>('SELECT * FROM users WHERE id = :id', { id }, transaction);
    return row && Users.#toUser(row);
  }

  async byUsername(username: string, transaction?: Transaction): Promise<User | undefined> {
    const [row] = await this.#db.select<Row>('SELECT * FROM users WHERE username = :u', { u: normaliseUsername(username) }, transaction);
    return row && Users.#toUser(row);
  }

  /** Ordered by username; `search` matches a part of the username or email, `role` one of the roles. */
  async list(filter: { search?: string; role?: string; disabled?: boolean } = {}, transaction?: Transaction): Promise<User[]> {
    const rows = await this.#db.select<Row>('SELECT * FROM users ORDER BY username', {}, transaction);
    const search = filter.search?.toLowerCase();
    return rows.map((r) => Users.#toUser(r)).filter((u) => (search === undefined || u.username.includes(search) || (u.email ?? '').toLowerCase().includes(search))
      && (filter.role === undefined || u.roles.includes(filter.role)) && (filter.disabled === undefined || u.disabled === filter.disabled));
  }

  async setTotpSecret(id: string, secret: string, transaction?: Transaction): Promise<void> {
    const sealed = this.#keyring.encrypt(secret, `totp:${id}`);
    await this.#db.change('UPDATE users SET totp_secret = :sealed, totp_last_step = NULL, updated_at = :now WHERE id = :id', { sealed, id, now: new Date() }, transaction);
  }

  /** Replaces the given fields; false when there is no such user. */
  async update(id: string, changes: { email?: string | null; passwordHash?: string | null; roles?: string[]; disabled?: boolean }, transaction?: Transaction): Promise<boolean> {
    const sets: string[] = [];
    const values: Record<string, unknown> = { id, now: new Date() };
    if (changes.email !== undefined) { sets.push('email = :email'); values.email = changes.email; }
    if (changes.passwordHash !== undefined) { sets.push('password_hash = :passwordHash'); values.passwordHash = changes.passwordHash; }
    if (changes.roles !== undefined) { sets.push('roles = :roles'); values.roles = JSON.stringify(changes.roles); }
    if (changes.disabled !== undefined) { sets.push('disabled = :disabled'); values.disabled = changes.disabled; }
    return (await this.#db.change(`UPDATE users SET ${[...sets, 'updated_at = :now'].join(', ')} WHERE id = :id`, values, transaction)) === 1;
  }

  async remove(id: string, transaction?: Transaction): Promise<boolean> {
    return (await this.#db.change('DELETE FROM users WHERE id = :id', { id }, transaction)) === 1;
  }

  async totpSecret(id: string): Promise<{ secret: string; lastStep: number | null } | undefined> {
    const [row] = await this.#db.select<{ totp_secret: string | null; totp_last_step: number | null }>(
      'SELECT totp_secret, totp_last_step FROM users WHERE id = :id', { id });
    if (!row?.totp_secret) return undefined;
    return { secret: this.#keyring.decrypt(row.totp_secret, `totp:${id}`), lastStep: row.totp_last_step === null ? null : Number(row.totp_last_step) };
  }

  /**
   * Marks TOTP time step `step` as used. True for exactly one caller per step, even when
   * requests race: the conditional update is the lock.
   */
  async useTotpStep(id: string, step: number): Promise<boolean> {
    const changed = await this.#db.change(
      'UPDATE users SET totp_last_step = :step WHERE id = :id AND (totp_last_step IS NULL OR totp_last_step < :step)', { id, step });
    return changed === 1;
  }
}
