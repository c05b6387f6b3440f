import type { Database } from '../storage/database.ts';
import type { Keyring } from './keyring.ts';

/** Every sealed column (`only`: which rows hold sealed values), with the context its values are bound to. */
const SEALED = [
  { table: 'credentials', key: 'user_id', column: 'data', context: (id: string) => `totp:${id}`, only: "type = 'totp'" },
  { table: 'clients', key: 'client_id', column: 'secret', context: (id: string) => `client:${id}`, only: '' },
  { table: 'signing_keys', key: 'kid', column: 'jwk', context: () => 'signing-key', only: '' },
] as const;

/**
 * Key rotation, second half: re-encrypts every value sealed under an older key with the
 * current (first) key, so the old key can then be removed from STEPGATE_SECRET_KEYS.
 * Each row is replaced only if it is still the value that was read.
 */
export async function resealAll(db: Database, keyring: Keyring): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const { table, key, column, context, only } of SEALED) {
    counts[table] = 0;
    const rows = await db.select<Record<string, string | null>>(`SELECT ${key} AS k, ${column} AS v FROM ${table} WHERE ${column} IS NOT NULL${only && ` AND ${only}`}`, {});
    for (const row of rows) {
      const id = row.k!;
      const sealed = row.v!;
      if (!keyring.isStale(sealed)) continue;
      const fresh = keyring.encrypt(keyring.decrypt(sealed, context(id)), context(id));
      counts[table] += await db.change(`UPDATE ${table} SET ${column} = :fresh WHERE ${key} = :id AND ${column} = :sealed`, { fresh, id, sealed });
    }
  }
  return counts;
}
