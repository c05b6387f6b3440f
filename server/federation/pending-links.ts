import type { Database } from '../storage/database.ts';
import type { PendingLogin } from './upstream.ts';

/** An account-page link in progress: who asked, from which browser session, and the upstream checks. */
export type PendingLink = { idpName: string; accountId: string; sessionUid: string; pending: PendingLogin };

/** Pending links, keyed by the OAuth `state` sent upstream; each is taken at most once. */
export class PendingLinks {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  async put(link: PendingLink, ttlSeconds: number): Promise<void> {
    await this.#db.change('INSERT INTO pending_links (id, data, expires_at) VALUES (:id, :data, :exp)',
      { id: link.pending.state, data: JSON.stringify(link), exp: Math.floor(Date.now() / 1000) + ttlSeconds });
  }

  /** The pending link for `state`, removed as it is read; undefined when unknown, expired or already taken. */
  async take(state: string): Promise<PendingLink | undefined> {
    const [row] = await this.#db.select<{ data: string; expires_at: number }>('SELECT data, expires_at FROM pending_links WHERE id = :id', { id: state });
    if (!row) return undefined;
    // Only the request whose DELETE removed the row may use it.
    const taken = await this.#db.change('DELETE FROM pending_links WHERE id = :id', { id: state });
    if (taken !== 1 || Number(row.expires_at) <= Date.now() / 1000) return undefined;
    return JSON.parse(row.data) as PendingLink;
  }
}
