import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** The PostgreSQL server the benchmarks create their databases on. */
export const PG_URL = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

async function withAdmin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 2000 });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** A fresh database for stepgate on PostgreSQL, or undefined when none is reachable. */
export async function postgresDatabase(): Promise<{ url: string; drop(): Promise<void> } | undefined> {
  const name = `stepgate_bench_${randomBytes(4).toString('hex')}`;
  try {
    await withAdmin((c) => c.query(`CREATE DATABASE ${name}`));
  } catch {
    return undefined;
  }
  const url = new URL(PG_URL);
  url.pathname = `/${name}`;
  return { url: url.href, drop: () => withAdmin(async (c) => { await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`); }) };
}
