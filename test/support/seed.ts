import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../config/index.ts';
import { openServices, type Services } from '../../server/services.ts';
import { PASSWORD, RP_CALLBACK } from './fixtures.ts';
import { testDatabaseUrl } from './server.ts';

export const TOTP_SECRET = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';

/**
 * A database (fresh SQLite file, or a fresh PostgreSQL database under TEST_DATABASE_URL)
 * and the environment that stepgate child processes sharing it need, plus in-process
 * services on it to seed users and clients.
 */
export async function sharedDatabase() {
  const dir = mkdtempSync(join(tmpdir(), 'stepgate-shared-'));
  const databaseUrl = await testDatabaseUrl(dir);
  const secretKey = randomBytes(32).toString('base64');
  const env = { DATABASE_URL: databaseUrl, STEPGATE_SECRET_KEYS: secretKey, STEPGATE_DATA_DIR: dir };
  const services = await openServices(loadConfig({ ...env, LOG_LEVEL: 'silent', STEPGATE_DEMO: '0' }, { argon2: { memoryCost: 1024, timeCost: 1, parallelism: 1 } }));
  return { dir, databaseUrl, env, services };
}

export async function seedUser(s: Services, username: string) {
  const user = await s.users.create({ username, passwordHash: await s.passwords.hash(PASSWORD), email: `${username}@example.org` });
  await s.credentials.setTotp(user.id, TOTP_SECRET);
  return { ...user, totpSecret: TOTP_SECRET };
}

export async function seedClient(s: Services, clientId: string, chain: string) {
  const secret = `${clientId}-secret-0123456789`;
  await s.clients.create({ clientId, secret, redirectUris: [RP_CALLBACK], chain, grantTypes: ['authorization_code', 'refresh_token'], settings: {} });
  return { clientId, secret };
}
