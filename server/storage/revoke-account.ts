import type { Database } from './database.ts';

/**
 * Signs an account out everywhere: its browser sessions, grants, and every code and
 * token issued from them (oidc-provider keeps `accountId` in each of those payloads), and
 * the steps its sessions satisfied, and the browsers it asked to remember. Used after a
 * password reset.
 */
export async function revokeAccount(db: Database, accountId: string): Promise<number> {
  const pattern = `%"accountId":${JSON.stringify(accountId)}%`;
  const grants = await db.select<{ id: string; grant_id: string | null }>(
    "SELECT id, grant_id FROM oidc_payloads WHERE model = 'Grant' AND payload LIKE :pattern", { pattern });
  let n = await db.change('DELETE FROM oidc_payloads WHERE payload LIKE :pattern', { pattern });
  for (const g of grants) if (g.grant_id) n += await db.change('DELETE FROM oidc_payloads WHERE grant_id = :grantId', { grantId: g.grant_id });
  await db.change('DELETE FROM session_steps WHERE account_id = :accountId', { accountId });
  await db.change('DELETE FROM remembered_devices WHERE account_id = :accountId', { accountId });
  return n;
}
