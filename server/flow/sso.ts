import type { Database } from '../storage/database.ts';

/**
 * Steps a browser session has satisfied, with when: another client's login may reuse a
 * step satisfied within the freshness window instead of asking again.
 */
export class SessionSteps {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  async remember(sessionUid: string, accountId: string, steps: { authenticator: string; at: number }[]): Promise<void> {
    for (const { authenticator, at } of steps) {
      await this.#db.change(
        `INSERT INTO session_steps (session_uid, authenticator, account_id, satisfied_at) VALUES (:sessionUid, :authenticator, :accountId, :at)
         ON CONFLICT (session_uid, authenticator) DO UPDATE SET account_id = excluded.account_id, satisfied_at = excluded.satisfied_at`,
        { sessionUid, authenticator, accountId, at });
    }
  }

  /** Authenticator ids this session satisfied for `accountId` no earlier than `since`, with their times. */
  async fresh(sessionUid: string, accountId: string, since: number): Promise<Map<string, number>> {
    const rows = await this.#db.select<{ authenticator: string; satisfied_at: number }>(
      'SELECT authenticator, satisfied_at FROM session_steps WHERE session_uid = :sessionUid AND account_id = :accountId AND satisfied_at >= :since',
      { sessionUid, accountId, since });
    return new Map(rows.map((r) => [r.authenticator, Number(r.satisfied_at)]));
  }

  async forget(sessionUid: string): Promise<void> {
    await this.#db.change('DELETE FROM session_steps WHERE session_uid = :sessionUid', { sessionUid });
  }
}
