import { exportJWK, generateKeyPair, calculateJwkThumbprint, type JWK } from 'jose';
import type { Database } from '../storage/database.ts';
import type { Keyring } from '../security/keyring.ts';

/**
 * RS256 first: OpenID Connect's default id_token algorithm, what relying parties expect
 * unless they register another. ES256 and EdDSA for clients that ask for them.
 */
const ALGORITHMS = [
  { alg: 'RS256', generate: () => generateKeyPair('RS256', { modulusLength: 2048, extractable: true }) },
  { alg: 'ES256', generate: () => generateKeyPair('ES256', { extractable: true }) },
  { alg: 'EdDSA', generate: () => generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true }) },
] as const;

/**
 * The broker's signing keys, generated on first start and kept (sealed) in the database,
 * so every process and every restart signs with the same keys. When processes start
 * together, the first insert wins and the others read it.
 */
export async function loadSigningKeys(db: Database, keyring: Keyring): Promise<{ keys: JWK[] }> {
  const keys: JWK[] = [];
  for (const { alg, generate } of ALGORITHMS) {
    let [row] = await db.select<{ jwk: string }>('SELECT jwk FROM signing_keys WHERE alg = :alg', { alg });
    if (!row) {
      const { privateKey } = await generate();
      const jwk = await exportJWK(privateKey);
      const kid = await calculateJwkThumbprint(jwk);
      await db.change(
        'INSERT INTO signing_keys (kid, alg, jwk, created_at) VALUES (:kid, :alg, :jwk, :now) ON CONFLICT DO NOTHING',
        { kid, alg, jwk: keyring.encrypt(JSON.stringify({ ...jwk, kid, alg, use: 'sig' }), 'signing-key'), now: new Date() });
      [row] = await db.select<{ jwk: string }>('SELECT jwk FROM signing_keys WHERE alg = :alg', { alg });
    }
    keys.push(JSON.parse(keyring.decrypt(row!.jwk, 'signing-key')) as JWK);
  }
  return { keys };
}
