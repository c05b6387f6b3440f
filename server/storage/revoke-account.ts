import type { Transaction } from 'sequelize';
import type { Database } from './database.ts';

/**
 * A client's sign-in within a browser session that is being ended: whom a back-channel
 * logout token goes to (the client), and which session it names (`sid`, oidc-provider's
 * per-client session id, the one the client's id_token carried).
 */
export type EndedSignIn = { clientId: string; sid: string };

/**
 * Tells relying parties that sign-ins of `accountId` ended (OpenID Connect Back-Channel
 * Logout): a logout token to each client that registered a back-channel logout URI.
 * Implemented with oidc-provider (server/provider/backchannel-logout.ts); whoever ends
 * sessions is handed one, so that every door that revokes an account notifies alike.
 */
export type NotifyLogout = (accountId: string, ended: EndedSignIn[]) => Promise<{ notified: number; failed: number }>;

type StoredSession = { accountId?: string; authorizations?: Record<string, { sid?: string }> };

/** The sign-ins of the sessions in `rows` (oidc-provider Session payloads) that belong to `accountId`. */
export function signInsOf(rows: { payload: string }[], accountId: string): EndedSignIn[] {
  const ended: EndedSignIn[] = [];
  for (const row of rows) {
    const session = JSON.parse(row.payload) as StoredSession;
    if (session.accountId !== accountId) continue;
    for (const [clientId, { sid }] of Object.entries(session.authorizations ?? {})) if (sid) ended.push({ clientId, sid });
  }
  return ended;
}

/**
 * Ends everything an account has open, at once: the provider's sessions, grants,
 * authorization codes, access and refresh tokens (oidc_payloads rows carry the account
 * they belong to), the steps remembered for single sign-on, remembered browsers and console
 * sessions. After this, introspection answers `active: false` and the token endpoint
 * refuses its refresh tokens. Returns the number of rows removed and the sign-ins of the
 * ended sessions, read before they are deleted (in the same transaction), for the caller to
 * notify the relying parties once the change is committed (NotifyLogout): a notification
 * must not go out for a change that is rolled back, nor hold the transaction open while
 * applications answer.
 */
export async function revokeAccount(db: Database, accountId: string, transaction?: Transaction): Promise<{ removed: number; ended: EndedSignIn[] }> {
  const sessions = await db.select<{ payload: string }>(
    "SELECT payload FROM oidc_payloads WHERE model = 'Session' AND account_id = :accountId", { accountId }, transaction);
  let removed = await db.change('DELETE FROM oidc_payloads WHERE account_id = :accountId', { accountId }, transaction);
  removed += await db.change('DELETE FROM session_steps WHERE account_id = :accountId', { accountId }, transaction);
  removed += await db.change('DELETE FROM admin_sessions WHERE user_id = :accountId', { accountId }, transaction);
  removed += await db.change('DELETE FROM remembered_devices WHERE account_id = :accountId', { accountId }, transaction);
  return { removed, ended: signInsOf(sessions, accountId) };
}

