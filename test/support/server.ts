import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { loadConfig, type Config } from '../../config/index.ts';
import { serve, type Running } from '../../server/index.ts';
import type { StepgateOptions } from '../../server/services.ts';

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
 * The database a test server runs on: a fresh SQLite file, or — when TEST_DATABASE_URL
 * names a PostgreSQL server (CI runs the whole suite a second time that way) — a fresh
 * database created on it for this server alone.
 */
export async function testDatabaseUrl(dir: string): Promise<string> {
  const base = process.env.TEST_DATABASE_URL;
  if (!base) return `sqlite:${join(dir, 'stepgate.sqlite')}`;
  const name = `stepgate_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(base);
  url.pathname = `/${name}`;
  created.add(url.href);
  return url.href;
}

/** PostgreSQL test databases made in this run and not dropped yet. */
const created = new Set<string>();

/** Drops every PostgreSQL test database this run made (the suite's root hook, at the end). */
export async function dropAllTestDatabases(): Promise<void> {
  for (const url of [...created]) await dropDatabase(url);
}

/** Drops a PostgreSQL test database made by testDatabaseUrl (no-op for SQLite). */
export async function dropDatabase(url: string): Promise<void> {
  if (!url.startsWith('postgres')) return;
  created.delete(url);
  const name = new URL(url).pathname.slice(1);
  const admin = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}

/** True when the suite runs on PostgreSQL. */
export const onPostgres = Boolean(process.env.TEST_DATABASE_URL);

export type TestServer = Running & { issuer: string; config: Config; dir: string };

/**
 * A real stepgate on loopback with its own data directory and key. Cheap argon2 cost
 * keeps the suite fast; the production cost is exercised by the benchmarks.
 */
export async function startStepgate(options: { overrides?: Partial<Config>; dir?: string; port?: number; secretKey?: string; databaseUrl?: string } & StepgateOptions = {}): Promise<TestServer> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'stepgate-test-'));
  const databaseUrl = options.databaseUrl ?? await testDatabaseUrl(dir);
  const port = options.port ?? (await freePort());
  const issuer = `http://localhost:${port}`;
  const config = loadConfig({
    PORT: String(port), ISSUER: issuer, DATABASE_URL: databaseUrl, STEPGATE_DATA_DIR: dir,
    STEPGATE_DEMO: '0', LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent', STEPGATE_SECRET_KEYS: options.secretKey ?? randomBytes(32).toString('base64'),
  }, { argon2: { memoryCost: 1024, timeCost: 1, parallelism: 1 }, ...options.overrides });
  const running = await serve(config, { log: () => {}, authenticators: options.authenticators });
  const stop = async () => {
    await running.stop();
    if (databaseUrl.startsWith('postgres') && !options.databaseUrl) await dropDatabase(databaseUrl);
  };
  // the configured issuer (an override, e.g. https behind a test TLS proxy, wins): what the CLI and relying parties use
  return { ...running, stop, issuer: config.issuer, config, dir };
}
