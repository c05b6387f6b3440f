import type Provider from 'oidc-provider';
import type { Database } from '../storage/database.ts';

/** oidc-provider's Client, with the method its type definitions leave out */
type BackchannelClient = { backchannelLogoutUri?: string; backchannelLogout(sub: string, sid: string): Promise<void> };

type StoredSession = { accountId?: string; authorizations?: Record<string, { sid?: string; grantId?: string }> };

/**
 * Ends every browser session of a user from the admin side (disable, "sign out
 * everywhere"), as a sign-out at /logout would: each client signed in through a session
 * that registered a back-channel logout URI gets a logout token (oidc-provider signs and
 * sends it), the sessions' grants (tokens and consent) are revoked, the sessions deleted.
 * Returns how many sessions ended and how many logout tokens were delivered.
 */
export async function signOutEverywhere(provider: Provider, db: Database, accountId: string): Promise<{ sessions: number; notified: number; failed: number }> {
  // Sessions are stored as JSON under a hash of their id; the account id is a UUID, so the
  // LIKE pattern has no wildcard in it, and every candidate is checked once parsed.
  const rows = await db.select<{ id: string; payload: string }>(
    "SELECT id, payload FROM oidc_payloads WHERE model = 'Session' AND payload LIKE :pattern",
    { pattern: `%${JSON.stringify(accountId)}%` });
  let sessions = 0;
  let notified = 0;
  let failed = 0;
  for (const row of rows) {
    const session = JSON.parse(row.payload) as StoredSession;
    if (session.accountId !== accountId) continue;
    for (const [clientId, { sid, grantId }] of Object.entries(session.authorizations ?? {})) {
      const client = await provider.Client.find(clientId).catch(() => undefined) as BackchannelClient | undefined;
      if (client?.backchannelLogoutUri && sid) {
        try {
          await client.backchannelLogout(accountId, sid);
          notified++;
        } catch {
          // the application did not take it (the count tells the caller); the session still ends
          failed++;
        }
      }
      if (grantId) await provider.Grant.adapter.revokeByGrantId(grantId);
    }
    await db.change("DELETE FROM oidc_payloads WHERE model = 'Session' AND id = :id", { id: row.id });
    sessions++;
  }
  return { sessions, notified, failed };
}
