import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { loadConfig, type Config } from '../../config/index.ts';
import { serve, type Running } from '../../server/index.ts';

/** A free loopback port (the issuer must name its port before the server starts). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

/**
 * The database the suite runs on: a fresh SQLite file per server, or the PostgreSQL
 * named by TEST_DATABASE_URL (CI runs the whole suite a second time that way).
 */
export function testDatabaseUrl(dir: string): string {
  return process.env.TEST_DATABASE_URL || `sqlite:${join(dir, 'stepgate.sqlite')}`;
}

export type TestServer = Running & { issuer: string; config: Config; dir: string };

/**
 * A real stepgate on loopback with its own data directory and key. Cheap argon2 cost
 * keeps the suite fast; the production cost is exercised by the benchmarks.
 */
export async function startStepgate(options: { overrides?: Partial<Config>; dir?: string; port?: number; secretKey?: string } = {}): Promise<TestServer> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'stepgate-test-'));
  const port = options.port ?? (await freePort());
  const issuer = `http://localhost:${port}`;
  const config = loadConfig({
    PORT: String(port), ISSUER: issuer, DATABASE_URL: testDatabaseUrl(dir), STEPGATE_DATA_DIR: dir,
    STEPGATE_DEMO: '0', LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent', STEPGATE_SECRET_KEYS: options.secretKey ?? randomBytes(32).toString('base64'),
  }, { argon2: { memoryCost: 1024, timeCost: 1, parallelism: 1 }, ...options.overrides });
  const running = await serve(config, { log: () => {} });
  return { ...running, issuer, config, dir };
}
