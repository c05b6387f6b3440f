/**
 * A small bounded cache of introspection answers, so a busy API does not ask the broker
 * about every request. An entry lives `maxSeconds` at most, and never past the token's
 * own expiry; the oldest entry goes first when the cache is full. The price: a revoked
 * token keeps working at this API for up to `maxSeconds`.
 */
export class IntrospectionCache<T> {
  readonly #entries = new Map<string, { value: T; until: number }>();
  readonly #maxEntries: number;
  readonly #maxSeconds: number;

  constructor(options: { maxEntries: number; maxSeconds: number }) {
    this.#maxEntries = options.maxEntries;
    this.#maxSeconds = options.maxSeconds;
  }

  get(key: string, now: number): T | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    if (entry.until <= now) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  /** Keeps `value` until `expiresAt` (epoch seconds) or `maxSeconds` from now, whichever is first. */
  set(key: string, value: T, now: number, expiresAt: number | undefined): void {
    if (this.#maxSeconds <= 0 || this.#maxEntries <= 0) return;
    const until = Math.min(now + this.#maxSeconds, expiresAt ?? Infinity);
    if (until <= now) return;
    this.#entries.delete(key);
    while (this.#entries.size >= this.#maxEntries) this.#entries.delete(this.#entries.keys().next().value!);
    this.#entries.set(key, { value, until });
  }

  get size(): number {
    return this.#entries.size;
  }
}
