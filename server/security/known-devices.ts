import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** The browser cookie naming this device; readable only by the login pages. */
export const DEVICE_COOKIE = 'stepgate.known';
/** How long a browser stays known after its last successful sign-in. */
export const DEVICE_COOKIE_DAYS = 180;
/** Accounts one browser is known for (a shared family computer); the oldest is forgotten first. */
const MAX_ACCOUNTS = 5;

/**
 * OWASP's device cookie, for brute-force protection that attackers cannot turn against
 * users: a browser in which an account signed in successfully carries a tag (an HMAC of
 * a random device nonce and the account) that only this server can make. Failed
 * attempts from that browser for that account are counted on their own, so someone
 * elsewhere guessing the account's password locks out only the rest of the world.
 *
 * Value: `<nonce>.<tag>.<tag>…`; nothing secret and nothing personal in it.
 */
export class KnownDevice {
  readonly #key: string;
  readonly #nonce: string;
  #tags: string[];
  #changed = false;

  constructor(key: string, cookie: string | undefined) {
    this.#key = key;
    const [nonce, ...tags] = (cookie ?? '').split('.');
    const valid = nonce !== undefined && /^[A-Za-z0-9_-]{22}$/.test(nonce);
    this.#nonce = valid ? nonce : randomBytes(16).toString('base64url');
    this.#tags = valid ? tags.filter((t) => /^[A-Za-z0-9_-]{22}$/.test(t)).slice(-MAX_ACCOUNTS) : [];
  }

  #tag(account: string): string {
    return createHmac('sha256', this.#key).update(`${this.#nonce}\n${account}`).digest().subarray(0, 16).toString('base64url');
  }

  /** This browser's own counter id for `account`, when it signed in as that account before. */
  knows(account: string): string | undefined {
    const expected = Buffer.from(this.#tag(account));
    return this.#tags.find((t) => { const b = Buffer.from(t); return b.length === expected.length && timingSafeEqual(b, expected); });
  }

  /** After a successful sign-in as `account`. */
  remember(account: string): void {
    const tag = this.#tag(account);
    this.#tags = [...this.#tags.filter((t) => t !== tag), tag].slice(-MAX_ACCOUNTS);
    this.#changed = true;
  }

  /** The cookie to set, when `remember` added something. */
  get cookie(): string | undefined {
    return this.#changed ? [this.#nonce, ...this.#tags].join('.') : undefined;
  }
}
