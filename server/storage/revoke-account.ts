import type { Transaction } from 'sequelize';
import type { Database } from './database.ts';

/**
 * Ends everything an account has open, at once: the provider's sessions, grants,
 * authorization codes, access and refresh tokens (oidc_payloads rows carry the account
 * they belong to), the steps remembered for single sign-on, remembered browsers and console sessions. After
 * this, introspection answers `active: false` and the token endpoint refuses its refresh
 * tokens. Returns the number of rows removed.
 */
export async function revokeAccount(db: Database, accountId: string, transaction?: Transaction): Promise<number> {
  let n = await db.change('DELETE FROM oidc_payloads WHERE account_id = :accountId', { accountId }, transaction);
  n += await db.change('DELETE FROM session_steps WHERE account_id = :accountId', { accountId }, transaction);
  n += await db.change('DELETE FROM admin_sessions WHERE user_id = :accountId', { accountId }, transaction);
  n += await db.change('DELETE FROM remembered_devices WHERE account_id = :accountId', { accountId }, transaction);
  return n;
}
