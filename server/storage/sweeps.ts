import type { Database } from './database.ts';
import type { Audit } from '../audit/index.ts';

const epoch = () => Math.floor(Date.now() / 1000);

/** What a sweep removed, per table. */
export type SweepCounts = Record<string, number>;

/**
 * Every table that grows has an expiry or a rule here; run periodically by the server
 * (server/index.ts) and by `stepgate sweep`. Times: epoch seconds, audit milliseconds.
 */
export async function sweep(db: Database, audit: Audit, options: { sessionTtl: number; lockoutWindow: number; auditRetentionDays: number }): Promise<SweepCounts> {
  const now = epoch();
  const counts: SweepCounts = {};
  for (const table of ['oidc_payloads', 'flow_states', 'pending_links', 'admin_sessions', 'remembered_devices']) {
    counts[table] = await db.change(`DELETE FROM ${table} WHERE expires_at IS NOT NULL AND expires_at <= :now`, { now });
  }
  counts.saml_assertions_used = await db.change('DELETE FROM saml_assertions_used WHERE expires_at < :now', { now });
  // A step older than the longest session cannot be reused by any session.
  counts.session_steps = await db.change('DELETE FROM session_steps WHERE satisfied_at < :before', { before: now - options.sessionTtl });
  // Failure counters outside their window, and lockouts over for a day (their escalation is forgotten then).
  counts.login_failures = await db.change(
    'DELETE FROM login_failures WHERE first_failure_at < :windowStart AND (locked_until IS NULL OR locked_until < :lockEnd)',
    { windowStart: now - options.lockoutWindow, lockEnd: now - 86_400 });
  counts.audit_events = await audit.removeOlderThan(Date.now() - options.auditRetentionDays * 86_400_000);
  return counts;
}
