import { createCipheriv, createDecipheriv, createHash, createSecretKey, hkdfSync, randomBytes, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../../config/index.ts';

/**
 * The broker's secret keys. The first key encrypts and derives cookie keys; every key
 * decrypts, so a new key can be put first while data sealed under the old one still opens.
 * Ciphertext format: `v1.<keyId>.<iv>.<tag>.<data>` (base64url), AES-256-GCM.
 * Keys are held as KeyObjects: on Node 24 a cipher under a Buffer key costs about 12 µs
 * more per call, and sessions and interactions are sealed and opened on every page.
 */
export class Keyring {
  readonly #keys: { id: string; key: KeyObject }[];

  constructor(base64Keys: string[]) {
    if (base64Keys.length === 0) throw new Error('keyring needs at least one key');
    this.#keys = base64Keys.map((k) => {
      const key = Buffer.from(k, 'base64');
      return { id: createHash('sha256').update(key).digest('hex').slice(0, 8), key: createSecretKey(key) };
    });
  }

  encrypt(plaintext: string, context: string): string {
    const { id, key } = this.#keys[0]!;
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(Buffer.from(context));
    const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return ['v1', id, iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), data.toString('base64url')].join('.');
  }

  /** `context` binds a ciphertext to its use (e.g. the user id) so it cannot be moved to another row. */
  decrypt(sealed: string, context: string): string {
    const [version, id, iv, tag, data] = sealed.split('.');
    const entry = this.#keys.find((k) => k.id === id);
    if (version !== 'v1' || !entry || !iv || !tag || data === undefined) throw new Error('cannot decrypt: unknown key or format');
    const decipher = createDecipheriv('aes-256-gcm', entry.key, Buffer.from(iv, 'base64url'));
    decipher.setAAD(Buffer.from(context));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(data, 'base64url')), decipher.final()]).toString('utf8');
  }

  /** True when the value was sealed under an older key and should be re-encrypted. */
  isStale(sealed: string): boolean {
    return sealed.split('.')[1] !== this.#keys[0]!.id;
  }

  /** Keys derived for a purpose (cookie signing); one per configured key, newest first. */
  derive(purpose: string): string[] {
    return this.#keys.map(({ key }) => Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), purpose, 32)).toString('base64url'));
  }
}

/**
 * The configured keys, or in development a key generated once into `<dataDir>/secret.key`
 * so restarts keep sessions and encrypted data readable.
 */
export function resolveSecretKeys(config: Config): string[] {
  if (config.secretKeys.length > 0) return config.secretKeys;
  if (config.production) throw new Error('STEPGATE_SECRET_KEYS is required in production');
  const file = join(config.dataDir, 'secret.key');
  if (!existsSync(file)) {
    mkdirSync(config.dataDir, { recursive: true });
    writeFileSync(file, randomBytes(32).toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
  }
  return [readFileSync(file, 'utf8').trim()];
}
