import type { Database } from '../storage/database.ts';
import type { Transaction } from 'sequelize';
import type { Config } from '../../config/index.ts';
import { createHmac } from 'node:crypto';
import type { FlowEvents } from '../observability/events.ts';

export type Factor = 'password' | 'otp';

export type AttemptDecision = { allowed: true } | { allowed: false; retryAfterSeconds: number };

/** The counters an attempt touches; no address counter for a known device (its failures are its owner's). */
export type LockoutKeys = { account: string; address?: string };

const epoch = () => Math.floor(Date.now() / 1000);

/**
 * Brute-force protection shared by every path that checks a credential. Counters live in
 * the database, per factor, per account and per client address, so every process sees
 * the same numbers. An attempt is counted *before* the credential is checked: the
 * atomic increment is what keeps parallel guesses from slipping past the limit.
 *
 * A browser that signed in as an account before (server/security/known-devices.ts) has
 * its own counter for that account and skips the address counter: an attacker guessing
 * from elsewhere locks the account for everyone else, never for its owner's browser.
 */
export class Lockout {
  readonly #db: Database;
  readonly #options: Config['lockout'];
  readonly #events: FlowEvents | undefined;
  readonly #pseudonymKey: string;

  constructor(db: Database, options: Config['lockout'], events?: FlowEvents, pseudonymKey = '') {
    this.#db = db;
    this.#options = options;
    this.#events = events;
    this.#pseudonymKey = pseudonymKey;
  }

  static keys(factor: Factor, account: string, address: string): Required<LockoutKeys> {
    return { account: `${factor}:account:${account}`, address: `${factor}:address:${address}` };
  }

  /**
   * The counter of one known browser for one account (the device cookie's tag). The
   * account is part of the key so that an admin's unlock clears its browsers' counters too.
   */
  static deviceKeys(factor: Factor, account: string, tag: string): LockoutKeys {
    return { account: `${factor}:device:${account}:${tag}` };
  }

  /**
   * What a typed username that names no account is counted and audited as: a keyed hash,
   * so a password typed into the username field is never stored.
   */
  pseudonym(typed: string): string {
    return `unknown:${createHmac('sha256', this.#pseudonymKey).update(typed).digest().subarray(0, 16).toString('base64url')}`;
  }

  /**
   * Before a credential is checked: refuses while the address is locked, and counts one
   * attempt on the account — counted first, so parallel guesses cannot pass its limit.
   */
  async attempt(keys: LockoutKeys): Promise<AttemptDecision> {
    const wait = await this.#count(keys.account, this.#options.maxFailures, keys.address);
    if (wait === 'address locked') {
      // Nothing was counted. Read how long the address stays locked (at least a second,
      // even if its lock ended in between: the attempt was not counted, so it is refused).
      const now = epoch();
      const until = (await this.lockedUntil(keys.address!)) ?? now;
      return { allowed: false, retryAfterSeconds: Math.max(1, until - now) };
    }
    return wait > 0 ? { allowed: false, retryAfterSeconds: wait } : { allowed: true };
  }

  /**
   * The credential was wrong: the address counts failures only (never successes, which an
   * attacker could mix in from an account of their own to spray passwords without limit).
   */
  async failed(keys: LockoutKeys): Promise<void> {
    // Counted after the fact, so the limit-th failure itself starts the lock.
    if (keys.address !== undefined) await this.#count(keys.address, this.#options.maxFailuresPerAddress - 1);
  }

  /** The credential was right: forget the account's failures. */
  async succeeded(keys: LockoutKeys): Promise<void> {
    await this.#db.change('DELETE FROM login_failures WHERE key = :key', { key: keys.account });
  }

  /** Admin unlock: clears every counter of an account (any factor), its known browsers' included. */
  async unlock(account: string, transaction?: Transaction): Promise<number> {
    let n = 0;
    for (const factor of ['password', 'otp'] satisfies Factor[]) {
      n += await this.#db.change('DELETE FROM login_failures WHERE key = :key', { key: Lockout.keys(factor, account, '').account }, transaction);
      // a prefix compared as text (not LIKE, where "_" in a username would match any character)
      const prefix = Lockout.deviceKeys(factor, account, '').account;
      n += await this.#db.change('DELETE FROM login_failures WHERE substr(key, 1, :length) = :prefix', { prefix, length: prefix.length }, transaction);
    }
    return n;
  }

  async lockedUntil(key: string, transaction?: Transaction): Promise<number | null> {
    const [row] = await this.#db.select<{ locked_until: number | null }>('SELECT locked_until FROM login_failures WHERE key = :key', { key }, transaction);
    return row?.locked_until ?? null;
  }

  /**
   * Counts one attempt on `key`: 0 when it may proceed, else the seconds to wait. With
   * `unlessLocked` (an address), nothing is counted while that address is locked: an
   * attacker refused for their address must not lock the account for its owner. Checked and
   * counted in one statement.
   */
  async #count(key: string, maxFailures: number, unlessLocked?: string): Promise<number | 'address locked'> {
    const now = epoch();
    const { baseSeconds, maxSeconds, windowSeconds } = this.#options;
    // (The casts tell PostgreSQL the types of parameters that appear in a SELECT list.)
    const [row] = await this.#db.select<{ failures: number; lockouts: number; locked_until: number | null }>(
      `INSERT INTO login_failures (key, failures, lockouts, first_failure_at, locked_until)
       SELECT CAST(:key AS VARCHAR(255)), 1, 0, CAST(:now AS BIGINT), NULL
       WHERE NOT EXISTS (SELECT 1 FROM login_failures WHERE key = :unlessLocked AND locked_until > :now)
       ON CONFLICT (key) DO UPDATE SET
         failures = CASE WHEN login_failures.locked_until > :now THEN login_failures.failures
                         WHEN login_failures.first_failure_at < :windowStart AND login_failures.lockouts = 0 THEN 1
                         ELSE login_failures.failures + 1 END,
         first_failure_at = CASE WHEN login_failures.first_failure_at < :windowStart AND login_failures.lockouts = 0
                         THEN :now ELSE login_failures.first_failure_at END
       RETURNING failures, lockouts, locked_until`,
      { key, now, windowStart: now - windowSeconds, unlessLocked: unlessLocked ?? null });
    if (!row) return 'address locked';
    if (row.locked_until !== null && Number(row.locked_until) > now) return Number(row.locked_until) - now;
    if (row.failures <= maxFailures) return 0;
    // Over the limit: lock, doubling with each lockout. Leave one attempt for after the
    // lock ends; a wrong one locks again, for longer.
    const seconds = Math.min(maxSeconds, baseSeconds * 2 ** Number(row.lockouts));
    const locked = await this.#db.change(
      `UPDATE login_failures SET locked_until = :until, lockouts = lockouts + 1, failures = :rest
       WHERE key = :key AND (locked_until IS NULL OR locked_until <= :now)`,
      { key, now, until: now + seconds, rest: maxFailures - 1 });
    if (locked === 1) {
      const [factor = '', scope = ''] = key.split(':');
      this.#events?.emit('lockout', { key, factor, scope, seconds });
      return seconds;
    }
    const until = await this.lockedUntil(key);
    return Math.max(1, (until ?? now + 1) - now);
  }
}
