import type { Database } from './database.ts';

/** One console session row: stored under the hash of the cookie's random id. */
export type AdminSessionRow = { userId: string; csrf: string; expiresAt: number };

/** The admin console's sessions table (the cookie side lives in server/admin/sessions.ts). */
export class AdminSessionStore {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  /** Stores a new session, dropping expired ones on the way (the sweep does the rest). */
  async create(idHash: string, row: AdminSessionRow, now: number): Promise<void> {
    await this.#db.change('DELETE FROM admin_sessions WHERE expires_at <= :now', { now });
    await this.#db.change('INSERT INTO admin_sessions (id, user_id, csrf, expires_at) VALUES (:id, :userId, :csrf, :expiresAt)',
      { id: idHash, userId: row.userId, csrf: row.csrf, expiresAt: row.expiresAt });
  }

  async find(idHash: string, now: number): Promise<AdminSessionRow | undefined> {
    const [row] = await this.#db.select<{ user_id: string; csrf: string; expires_at: number }>(
      'SELECT user_id, csrf, expires_at FROM admin_sessions WHERE id = :id AND expires_at > :now', { id: idHash, now });
    return row && { userId: row.user_id, csrf: row.csrf, expiresAt: Number(row.expires_at) };
  }

  async remove(idHash: string): Promise<void> {
    await this.#db.change('DELETE FROM admin_sessions WHERE id = :id', { id: idHash });
  }
}
