import { createHmac, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';
import type { Database } from '../storage/database.ts';
import digest from '../security/digest.ts';

export type Purpose = 'verify' | 'reset' | 'code';

export type TokenRow = { accountId: string; email: string; bound: string | null; data: Record<string, unknown>; expiresAt: number };

/** Wrong answers a code takes before it is dead (a new one must be sent). */
export const CODE_TRIES = 5;

const epoch = () => Math.floor(Date.now() / 1000);

type Row = { account_id: string; email: string; bound: string | null; data: string; expires_at: number | string; code_hash: string | null };

/**
 * Secrets sent by mail: links (verification, password reset) and 6-digit codes. Only
 * hashes are stored: a link's 256-bit token by its SHA-256; a code — guessable offline
 * from a plain hash — by an HMAC under a key derived from the keyring, bound to its
 * challenge id. Every row expires and is used at most once: the conditional update that
 * sets `used_at` is the lock, so racing requests cannot both use one.
 */
export class EmailTokens {
  readonly #db: Database;
  readonly #codeKey: string;

  constructor(db: Database, codeKey: string) {
    this.#db = db;
    this.#codeKey = codeKey;
  }

  async #insert(id: string, purpose: Purpose, input: { accountId: string; email: string; ttl: number; bound?: string | null; codeHash?: string }) {
    const now = epoch();
    await this.#db.change('DELETE FROM email_tokens WHERE expires_at <= :now', { now });
    await this.#db.change(
      `INSERT INTO email_tokens (id, purpose, account_id, email, code_hash, bound, tries, data, expires_at, used_at)
       VALUES (:id, :purpose, :accountId, :email, :codeHash, :bound, 0, '{}', :expiresAt, NULL)`,
      { id, purpose, accountId: input.accountId, email: input.email, codeHash: input.codeHash ?? null, bound: input.bound ?? null, expiresAt: now + input.ttl });
  }

  /** A new link token; the returned value goes into the mail and nowhere else. */
  async issueLink(purpose: 'verify' | 'reset', input: { accountId: string; email: string; ttl: number; bound?: string | null }): Promise<string> {
    const token = randomBytes(32).toString('base64url');
    await this.#insert(digest(token), purpose, input);
    return token;
  }

  /** The live (unused, unexpired) link row for `token`, without using it. */
  async peek(purpose: 'verify' | 'reset', token: string): Promise<TokenRow | undefined> {
    if (!/^[A-Za-z0-9_-]{43}$/.test(token)) return undefined;
    const [row] = await this.#db.select<Row>(
      'SELECT * FROM email_tokens WHERE id = :id AND purpose = :purpose AND used_at IS NULL AND expires_at > :now',
      { id: digest(token), purpose, now: epoch() });
    return row && { accountId: row.account_id, email: row.email, bound: row.bound, data: JSON.parse(row.data) as Record<string, unknown>, expiresAt: Number(row.expires_at) };
  }

  /** Keeps a little state with a live link (the reset page's second factor). */
  async setData(purpose: 'verify' | 'reset', token: string, data: Record<string, unknown>): Promise<boolean> {
    return (await this.#db.change(
      'UPDATE email_tokens SET data = :data WHERE id = :id AND purpose = :purpose AND used_at IS NULL AND expires_at > :now',
      { id: digest(token), purpose, data: JSON.stringify(data), now: epoch() })) === 1;
  }

  /** Uses a link: true for exactly one caller. */
  async use(purpose: 'verify' | 'reset', token: string): Promise<boolean> {
    return (await this.#db.change(
      'UPDATE email_tokens SET used_at = :now WHERE id = :id AND purpose = :purpose AND used_at IS NULL AND expires_at > :now',
      { id: digest(token), purpose, now: epoch() })) === 1;
  }

  /** A new 6-digit code under a new challenge id (kept server-side in the login's step state). */
  async issueCode(input: { accountId: string; email: string; ttl: number }): Promise<{ challenge: string; code: string }> {
    const challenge = randomBytes(16).toString('base64url');
    const code = String(randomInt(0, 1_000_000)).padStart(6, '0');
    await this.#insert(digest(challenge), 'code', { ...input, codeHash: this.#codeHash(challenge, code) });
    return { challenge, code };
  }

  /**
   * Checks a code. The try is counted before the comparison, so parallel guesses cannot
   * exceed CODE_TRIES; a right code is then used with a conditional update.
   */
  async checkCode(challenge: string, accountId: string, code: string): Promise<'ok' | 'wrong' | 'dead'> {
    const id = digest(challenge);
    const counted = await this.#db.change(
      `UPDATE email_tokens SET tries = tries + 1
       WHERE id = :id AND purpose = 'code' AND account_id = :accountId AND used_at IS NULL AND expires_at > :now AND tries < :max`,
      { id, accountId, now: epoch(), max: CODE_TRIES });
    if (counted !== 1) return 'dead';
    const [row] = await this.#db.select<Row>('SELECT code_hash FROM email_tokens WHERE id = :id', { id });
    const expected = Buffer.from(row?.code_hash ?? '');
    const given = Buffer.from(this.#codeHash(challenge, code));
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) return 'wrong';
    const used = await this.#db.change('UPDATE email_tokens SET used_at = :now WHERE id = :id AND used_at IS NULL', { id, now: epoch() });
    return used === 1 ? 'ok' : 'dead';
  }

  #codeHash(challenge: string, code: string): string {
    return createHmac('sha256', this.#codeKey).update(`${challenge}:${code}`).digest('base64url');
  }
}
