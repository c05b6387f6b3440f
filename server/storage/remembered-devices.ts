import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Transaction } from 'sequelize';
import Bowser from 'bowser';
import type { Database } from './database.ts';

/** A browser a user chose to remember, as the user and admins see it (never its id). */
export type RememberedDevice = { id: string; accountId: string; label: string; createdAt: number; lastUsedAt: number; expiresAt: number };

type Row = { id: string; account_id: string; label: string; created_at: number | string; last_used_at: number | string; expires_at: number | string };

const epoch = () => Math.floor(Date.now() / 1000);
const hash = (deviceId: string) => createHash('sha256').update(deviceId).digest('base64url');

/** "Firefox on Linux", from a User-Agent header (bowser); "Unknown browser" when there is none. */
export function deviceLabel(userAgent: string | undefined): string {
  if (!userAgent) return 'Unknown browser';
  const parser = Bowser.getParser(userAgent);
  const browser = parser.getBrowserName() || 'Unknown browser';
  const os = parser.getOSName();
  return (os ? `${browser} on ${os}` : browser).slice(0, 255);
}

/**
 * Remembered devices: a credential of the user (DESIGN.md section 3). The browser holds a
 * random device id in a cookie; the table holds only its hash, per user, so another user
 * of the same browser is not remembered and a database dump remembers no one. Listed and
 * revoked by the user (/account) and admins; all revoked when the password changes
 * (`revokeAllFor`); rows expire and are swept.
 */
export class RememberedDevices {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  /** A new random device id, for a browser that has none. */
  static newDeviceId(): string {
    return randomBytes(32).toString('base64url');
  }

  /** Remembers this browser for `accountId` for `seconds` from now (again, if it was). */
  async remember(deviceId: string, accountId: string, userAgent: string | undefined, seconds: number): Promise<void> {
    const now = epoch();
    await this.#db.change(
      `INSERT INTO remembered_devices (id, device_hash, account_id, label, created_at, last_used_at, expires_at)
       VALUES (:id, :hash, :accountId, :label, :now, :now, :expires)
       ON CONFLICT (device_hash, account_id) DO UPDATE SET label = excluded.label, created_at = excluded.created_at, last_used_at = excluded.last_used_at, expires_at = excluded.expires_at`,
      { id: randomUUID(), hash: hash(deviceId), accountId, label: deviceLabel(userAgent), now, expires: now + seconds });
  }

  /** When this browser was remembered for `accountId`, if it is (and not expired). */
  async since(deviceId: string, accountId: string): Promise<number | undefined> {
    const [row] = await this.#db.select<{ created_at: number | string }>(
      'SELECT created_at FROM remembered_devices WHERE device_hash = :hash AND account_id = :accountId AND expires_at > :now',
      { hash: hash(deviceId), accountId, now: epoch() });
    return row ? Number(row.created_at) : undefined;
  }

  /** Notes that the remembered browser was used to skip a step. */
  async touch(deviceId: string, accountId: string): Promise<void> {
    await this.#db.change('UPDATE remembered_devices SET last_used_at = :now WHERE device_hash = :hash AND account_id = :accountId',
      { hash: hash(deviceId), accountId, now: epoch() });
  }

  async list(accountId: string, transaction?: Transaction): Promise<RememberedDevice[]> {
    const rows = await this.#db.select<Row>(
      'SELECT id, account_id, label, created_at, last_used_at, expires_at FROM remembered_devices WHERE account_id = :accountId AND expires_at > :now ORDER BY created_at DESC',
      { accountId, now: epoch() }, transaction);
    return rows.map((r) => ({ id: r.id, accountId: r.account_id, label: r.label, createdAt: Number(r.created_at), lastUsedAt: Number(r.last_used_at), expiresAt: Number(r.expires_at) }));
  }

  /** Forgets one device of this user; false when there was none by that id. */
  async revoke(accountId: string, id: string, transaction?: Transaction): Promise<boolean> {
    return (await this.#db.change('DELETE FROM remembered_devices WHERE id = :id AND account_id = :accountId', { id, accountId }, transaction)) === 1;
  }

  /** Forgets every device of this user (password changed, account disabled); returns how many. */
  async revokeAllFor(accountId: string, transaction?: Transaction): Promise<number> {
    return this.#db.change('DELETE FROM remembered_devices WHERE account_id = :accountId', { accountId }, transaction);
  }

  /** Deletes expired rows. */
  async sweep(): Promise<number> {
    return this.#db.change('DELETE FROM remembered_devices WHERE expires_at <= :now', { now: epoch() });
  }
}
