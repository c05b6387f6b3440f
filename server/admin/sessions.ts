import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Context } from 'koa';
import type { Database } from '../storage/database.ts';
import { AdminSessionStore } from '../storage/admin-sessions.ts';
import digest from '../security/digest.ts';

export const SESSION_COOKIE = 'stepgate.admin';

export type AdminSession = { userId: string; csrf: string; expiresAt: number };

const epoch = () => Math.floor(Date.now() / 1000);

/**
 * Console sessions. The cookie holds only a random id (signed, HttpOnly, SameSite=Lax);
 * the row, stored under the id's hash, holds the admin, the expiry and the CSRF token.
 * No token from the broker is kept at all: the login's id_token is read once and dropped.
 */
export class AdminSessions {
  readonly #store: AdminSessionStore;
  readonly #ttl: number;
  readonly #secure: boolean;

  constructor(db: Database, ttl: number, secure: boolean) {
    this.#store = new AdminSessionStore(db);
    this.#ttl = ttl;
    this.#secure = secure;
  }

  async start(ctx: Context, userId: string): Promise<void> {
    const id = randomBytes(32).toString('base64url');
    const now = epoch();
    await this.#store.create(digest(id), { userId, csrf: randomBytes(24).toString('base64url'), expiresAt: now + this.#ttl }, now);
    ctx.cookies.set(SESSION_COOKIE, id, { signed: true, httpOnly: true, sameSite: 'lax', secure: this.#secure, path: '/admin', maxAge: this.#ttl * 1000 });
  }

  async current(ctx: Context): Promise<AdminSession | undefined> {
    const id = ctx.cookies.get(SESSION_COOKIE, { signed: true });
    if (!id) return undefined;
    return this.#store.find(digest(id), epoch());
  }

  async end(ctx: Context): Promise<void> {
    const id = ctx.cookies.get(SESSION_COOKIE, { signed: true });
    if (id) await this.#store.remove(digest(id));
    ctx.cookies.set(SESSION_COOKIE, null, { signed: true, path: '/admin' });
  }
}

export function csrfMatches(session: AdminSession, given: unknown): boolean {
  if (typeof given !== 'string' || given === '') return false;
  const a = Buffer.from(given);
  const b = Buffer.from(session.csrf);
  return a.length === b.length && timingSafeEqual(a, b);
}
