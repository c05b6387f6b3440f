import { randomUUID } from 'node:crypto';
import type { Transaction } from 'sequelize';
import type { Database } from './database.ts';

export type User = {
  id: string;
  username: string;
  email: string | null;
  passwordHash: string | null;
  hasTotp: boolean;
  roles: string[];
  disabled: boolean;
  /** an admin asked that the user set up a second factor at the next login */
  enrolmentRequired: boolean;
};

type Row = {
  id: string; username: string; email: string | null; password_hash: string | null;
  has_totp: boolean | number; roles: string; disabled: boolean | number; enrolment_required: boolean | number;
};

/** Users with whether they have TOTP (a row in credentials). */
const SELECT = "SELECT users.*, EXISTS (SELECT 1 FROM credentials c WHERE c.user_id = users.id AND c.type = 'totp') AS has_totp FROM users";

/** Usernames compare after Unicode NFKC and case folding, so "Alice" and "ａｌｉｃｅ" are one account. */
export function normaliseUsername(username: string): string {
  return username.normalize('NFKC').trim().toLowerCase();
}

/** Users and their passwords; their second factors are in Credentials. */
export class Users {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  static #toUser(row: Row): User {
    return {
      id: row.id, username: row.username, email: row.email, passwordHash: row.password_hash,
      hasTotp: Boolean(row.has_totp), roles: JSON.parse(row.roles) as string[], disabled: Boolean(row.disabled),
      enrolmentRequired: Boolean(row.enrolment_required),
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

  async byId(id: string): Promise<User | undefined> {
    const [row] = await this.#db.select<Row>(`${SELECT} WHERE id = :id`, { id });
    return row && Users.#toUser(row);
  }

  async byUsername(username: string): Promise<User | undefined> {
    const [row] = await this.#db.select<Row>(`${SELECT} WHERE username = :u`, { u: normaliseUsername(username) });
    return row && Users.#toUser(row);
  }

  async list(): Promise<User[]> {
    return (await this.#db.select<Row>(`${SELECT} ORDER BY username`, {})).map((r) => Users.#toUser(r));
  }

  async setPasswordHash(id: string, passwordHash: string): Promise<void> {
    await this.#db.change('UPDATE users SET password_hash = :passwordHash, updated_at = :now WHERE id = :id', { id, passwordHash, now: new Date() });
  }

  /** An admin's "set up a second factor at the next login"; cleared once the user has one. */
  async setEnrolmentRequired(id: string, required: boolean, transaction?: Transaction): Promise<void> {
    await this.#db.change('UPDATE users SET enrolment_required = :required, updated_at = :now WHERE id = :id', { id, required, now: new Date() }, transaction);
  }
}
