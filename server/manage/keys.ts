import type { Services } from '../services.ts';
import { ALGORITHMS, type SigningAlg, type SigningKey } from '../storage/signing-keys.ts';
import { ManageError, invalid, notFound, type Actor } from './errors.ts';
import type { Changes } from './changes.ts';

export type KeyView = { kid: string; alg: string; state: 'signing' | 'published'; created: string; superseded: string | null; retirable_from: string | null };

const DAY = 86_400;

/**
 * Signing keys: rotate adds a new signing key per algorithm and keeps the old ones
 * published, so tokens they signed still verify; retire removes an old key once no token
 * it signed can still be valid (the longest ID token or JWT lifetime, plus a day).
 */
export class ManageKeys {
  readonly #s: Services;
  readonly #changes: Changes;

  constructor(s: Services, changes: Changes) {
    this.#s = s;
    this.#changes = changes;
  }

  /** Seconds a superseded key stays published before it may be retired. */
  async overlapSeconds(): Promise<number> {
    const { ttl } = this.#s.config;
    const jwtApps = (await this.#s.clients.list()).filter((c) => c.settings.appTokenFormat === 'jwt').map((c) => c.settings.appTokenTtl ?? ttl.clientCredentials);
    // a JWT that never expires keeps its key needed forever
    if (jwtApps.some((t) => t < 0)) return Infinity;
    return Math.max(ttl.idToken, ttl.clientCredentials, ...jwtApps) + DAY;
  }

  #view(k: SigningKey, overlap: number): KeyView {
    const from = k.supersededAt === null || !Number.isFinite(overlap) ? null : new Date(k.supersededAt + overlap * 1000).toISOString();
    return { kid: k.kid, alg: k.alg, state: k.supersededAt === null ? 'signing' : 'published', created: new Date(k.createdAt).toISOString(), superseded: k.supersededAt === null ? null : new Date(k.supersededAt).toISOString(), retirable_from: from };
  }

  async list(): Promise<KeyView[]> {
    // a database the server has not started on yet has none
    await this.#s.signingKeys.ensure();
    const overlap = await this.overlapSeconds();
    return (await this.#s.signingKeys.list()).map((k) => this.#view(k, overlap));
  }

  /** A new signing key for `alg`, or for every algorithm. Every process signs with it within seconds. */
  async rotate(alg: string | undefined, by: Actor): Promise<KeyView[]> {
    if (alg !== undefined && !(alg in ALGORITHMS)) throw invalid('alg', `is one of ${Object.keys(ALGORITHMS).join(', ')}`);
    const algs = alg === undefined ? Object.keys(ALGORITHMS) as SigningAlg[] : [alg as SigningAlg];
    await this.#s.signingKeys.ensure();
    const overlap = await this.overlapSeconds();
    return this.#changes.run(async (t) => {
      const added = [];
      for (const a of algs) added.push(this.#view(await this.#s.signingKeys.add(a, t), overlap));
      await this.#changes.record(t, by, { kind: 'admin.keys.rotated', details: { added } });
      return added;
    });
  }

  /** Stops publishing an old key; refused for a key that signs, or inside the overlap. */
  async retire(kid: string, by: Actor): Promise<void> {
    const overlap = await this.overlapSeconds();
    await this.#changes.run(async (t) => {
      const key = (await this.#s.signingKeys.list(t)).find((k) => k.kid === kid);
      if (!key) throw notFound('signing key', kid);
      const view = this.#view(key, overlap);
      if (key.supersededAt === null) throw new ManageError(409, 'in_use', `key ${kid} signs ${key.alg} tokens now: rotate first, then retire it after the overlap`);
      if (view.retirable_from === null || Date.parse(view.retirable_from) > Date.now()) {
        throw new ManageError(409, 'too_early', `tokens signed by key ${kid} may still be valid: it can be retired from ${view.retirable_from ?? 'never (a client has JWT tokens that never expire)'}`);
      }
      await this.#s.signingKeys.remove(kid, t);
      await this.#changes.record(t, by, { kind: 'admin.keys.retired', subject: kid, details: { before: view } });
    });
  }
}
