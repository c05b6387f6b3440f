import type { Database } from './database.ts';
import { signInsOf, type EndedSignIn } from './revoke-account.ts';

export type UserSession = { uid: string; loginTs: number | null; amr: string[]; current: boolean };

type Payload = { uid?: string; accountId?: string; loginTs?: number; amr?: string[] };

const epoch = () => Math.floor(Date.now() / 1000);

/**
 * A user's browser sessions at the broker (oidc-provider's Session rows), for the account
 * page: listed, and ended everywhere but here (after a password change, or on request).
 */
export class UserSessions {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  async #rows(accountId: string): Promise<{ id: string; payload: Payload; raw: string }[]> {
    // account_id is the indexed column the adapter fills; the parsed accountId decides.
    const rows = await this.#db.select<{ id: string; payload: string }>(
      "SELECT id, payload FROM oidc_payloads WHERE model = 'Session' AND account_id = :accountId AND (expires_at IS NULL OR expires_at > :now)",
      { accountId, now: epoch() });
    return rows.map((r) => ({ id: r.id, payload: JSON.parse(r.payload) as Payload, raw: r.payload })).filter((r) => r.payload.accountId === accountId);
  }

  async list(accountId: string, currentUid: string): Promise<UserSession[]> {
    return (await this.#rows(accountId)).map(({ payload }) => ({
      uid: payload.uid ?? '', loginTs: payload.loginTs ?? null, amr: payload.amr ?? [], current: payload.uid === currentUid,
    })).sort((a, b) => (b.loginTs ?? 0) - (a.loginTs ?? 0));
  }

  /**
   * Ends every session of the account except `keepUid`; returns how many ended and their
   * sign-ins, for the back-channel logout (NotifyLogout in revoke-account.ts).
   */
  async endOthers(accountId: string, keepUid: string): Promise<{ sessions: number; ended: EndedSignIn[] }> {
    const others = (await this.#rows(accountId)).filter(({ payload }) => payload.uid !== keepUid);
    let sessions = 0;
    for (const { id, payload } of others) {
      sessions += await this.#db.change("DELETE FROM oidc_payloads WHERE model = 'Session' AND id = :id", { id });
      if (payload.uid) await this.#db.change('DELETE FROM session_steps WHERE session_uid = :uid', { uid: payload.uid });
    }
    return { sessions, ended: signInsOf(others.map((o) => ({ payload: o.raw })), accountId) };
  }
}
