import type { Database } from '../storage/database.ts';

export type Limit = { minIntervalSeconds: number; perHour: number };

const epoch = () => Math.floor(Date.now() / 1000);

/**
 * How often mail of one kind may go to one account or address (resends of a code, reset
 * links). The send is recorded first and counted after, so two racing requests cannot both
 * slip under a limit (both may be refused; a refusal removes its own record again).
 */
export class SendLimits {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  /** Records a send under every key, or none: returns the seconds to wait when one is over its limit. */
  async take(keys: string[], limit: Limit): Promise<{ allowed: true } | { allowed: false; retryAfterSeconds: number }> {
    const now = epoch();
    await this.#db.change('DELETE FROM mail_sends WHERE at <= :cutoff', { cutoff: now - 3600 });
    const ids: number[] = [];
    for (const key of keys) {
      const [row] = await this.#db.select<{ id: number }>('INSERT INTO mail_sends (key, at) VALUES (:key, :now) RETURNING id', { key, now });
      ids.push(Number(row!.id));
    }
    let wait = 0;
    for (const [i, key] of keys.entries()) {
      const rows = await this.#db.select<{ id: number; at: number }>('SELECT id, at FROM mail_sends WHERE key = :key AND at > :cutoff ORDER BY at DESC', { key, cutoff: now - 3600 });
      const others = rows.filter((r) => Number(r.id) !== ids[i]);
      const recent = others.find((r) => Number(r.at) > now - limit.minIntervalSeconds);
      if (recent) wait = Math.max(wait, Number(recent.at) + limit.minIntervalSeconds - now);
      if (others.length >= limit.perHour) wait = Math.max(wait, Number(others[others.length - 1]!.at) + 3600 - now);
    }
    if (wait === 0) return { allowed: true };
    for (const id of ids) await this.#db.change('DELETE FROM mail_sends WHERE id = :id', { id });
    return { allowed: false, retryAfterSeconds: Math.max(1, wait) };
  }
}
