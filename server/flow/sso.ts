import type { Database } from '../storage/database.ts';
import type { Satisfaction } from './plan.ts';

/**
 * Steps a browser session has satisfied, with when: another client's login may reuse a
 * step satisfied fresh enough (plan.ts decides) instead of asking again.
 */
export class SessionSteps {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  /** Records every step of a login in one statement. */
  async remember(sessionUid: string, accountId: string, steps: Satisfaction[]): Promise<void> {
    // One row per authenticator, the latest answer winning (a chain may ask the same one
    // twice; PostgreSQL refuses one INSERT that updates a row twice).
    const latest = [...new Map(steps.map((s) => [s.authenticator, s])).values()];
    if (latest.length === 0) return;
    const values: Record<string, unknown> = { sessionUid, accountId };
    const rows = latest.map(({ authenticator, at, upstreamAmr }, i) => {
      Object.assign(values, { [`authenticator${i}`]: authenticator, [`at${i}`]: at, [`upstream${i}`]: upstreamAmr ? JSON.stringify(upstreamAmr) : null });
      return `(:sessionUid, :authenticator${i}, :accountId, :at${i}, :upstream${i})`;
    });
    await this.#db.change(
      `INSERT INTO session_steps (session_uid, authenticator, account_id, satisfied_at, upstream_amr) VALUES ${rows.join(', ')}
       ON CONFLICT (session_uid, authenticator) DO UPDATE SET account_id = excluded.account_id, satisfied_at = excluded.satisfied_at, upstream_amr = excluded.upstream_amr`,
      values);
  }

  /** The steps this session satisfied for `accountId`, with their times (and a trusted upstream's amr). */
  async steps(sessionUid: string, accountId: string): Promise<Satisfaction[]> {
    const rows = await this.#db.select<{ authenticator: string; satisfied_at: number; upstream_amr: string | null }>(
      'SELECT authenticator, satisfied_at, upstream_amr FROM session_steps WHERE session_uid = :sessionUid AND account_id = :accountId',
      { sessionUid, accountId });
    return rows.map((r) => ({
      authenticator: r.authenticator, at: Number(r.satisfied_at),
      ...(r.upstream_amr ? { upstreamAmr: JSON.parse(r.upstream_amr) as string[] } : {}),
    }));
  }

  async forget(sessionUid: string): Promise<void> {
    await this.#db.change('DELETE FROM session_steps WHERE session_uid = :sessionUid', { sessionUid });
  }
}
