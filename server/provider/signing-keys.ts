import type Provider from 'oidc-provider';
// oidc-provider reads its keys once, at construction; this is its own routine for doing
// so, run again when the stored keys change (it replaces the keystore and the public JWKS).
import initializeKeystore from 'oidc-provider/lib/helpers/initialize_keystore.js';
import type { SigningKeys } from '../storage/signing-keys.ts';

/** How often a process looks for keys rotated or retired by another process (CLI, API). */
const CHECK_EVERY_MS = 5_000;

/**
 * Keeps the provider's keys in step with the database: at most every few seconds, a
 * request first compares the keys' version and, when it changed, loads them again. So a
 * rotation made anywhere signs in every process within seconds, without a restart.
 * Returns what a request calls first: a promise to wait for while a look is under way,
 * else undefined (the request goes straight on).
 */
export function followSigningKeys(provider: Provider, keys: SigningKeys, initialVersion: string): () => Promise<void> | undefined {
  let version = initialVersion;
  let checkedAt = Date.now();
  let pending: Promise<void> | undefined;
  const check = async () => {
    const now = await keys.version();
    if (now === version) return;
    initializeKeystore.call(provider, await keys.jwks());
    version = now;
  };
  return () => {
    if (Date.now() - checkedAt >= CHECK_EVERY_MS) {
      checkedAt = Date.now();
      pending ??= check().finally(() => (pending = undefined));
    }
    return pending;
  };
}
