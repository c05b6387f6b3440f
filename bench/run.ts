/**
 * `npm run bench`: stepgate on SQLite (and on PostgreSQL when one is reachable) against a
 * bare oidc-provider with its in-memory adapter (the baseline) and a Koa hello-world (the
 * ceiling), all measured in this one run. Every server runs in its own process pinned to
 * one CPU; this process generates the load from the other. Writes bench/results/latest.json
 * and latest.md.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { generateSecret } from 'otplib';
import { cannon, form, PROXY_HEADERS, type Measure } from './cannon.ts';
import { startServer, runScript, pinSelf, SERVER_CPU, type BenchServer } from './child.ts';
import { runLogins } from './login.ts';
import { BENCH_CLIENT } from './servers/client.ts';

type Row = { scenario: string; db: string; rps: number; p50_ms: number | null; p99_ms: number | null; baseline_rps: number | null; ratio: number | null; peak_rss_mb?: number; failed?: number };

const SECONDS = Number(process.env.BENCH_SECONDS ?? 6);
const LOGIN_SECONDS = Number(process.env.BENCH_LOGIN_SECONDS ?? 12);
const LOGIN_CONCURRENCY = 4;
const PG_URL = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const started = Date.now();
const log = (line: string) => console.error(`[${((Date.now() - started) / 1000).toFixed(0).padStart(3)}s] ${line}`);
const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;

async function postgresReachable(): Promise<boolean> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.end();
    return true;
  } catch {
    return false;
  }
}

async function withAdmin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/**
 * Single-use artifacts (codes, refresh tokens): a small batch first (warm-up, and an
 * estimate of the rate), then enough for about SECONDS at that rate.
 */
async function singleUse(server: BenchServer, op: 'codes' | 'refreshTokens', toBody: (v: string) => string): Promise<Measure> {
  const probe = await server.call<string[]>(op, { n: 300 });
  const estimate = await cannon({ port: server.port, path: '/token', bodies: probe.map(toBody) });
  const n = Math.min(8000, Math.max(500, Math.round(estimate.rps * SECONDS)));
  const values = await server.call<string[]>(op, { n });
  return cannon({ port: server.port, path: '/token', bodies: values.map(toBody) });
}

/** The four protocol scenarios against one server. */
async function protocol(server: BenchServer): Promise<Record<string, Measure>> {
  const cc = form({ grant_type: 'client_credentials' });
  await cannon({ port: server.port, path: '/token', body: cc, seconds: 2 }); // warm-up
  const out: Record<string, Measure> = {};
  out.client_credentials = await cannon({ port: server.port, path: '/token', body: cc, seconds: SECONDS });
  const tokenRes = await fetch(`http://127.0.0.1:${server.port}/token`, {
    method: 'POST', body: cc,
    headers: { ...PROXY_HEADERS, authorization: `Basic ${Buffer.from(`${BENCH_CLIENT.clientId}:${BENCH_CLIENT.secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
  });
  const { access_token: token } = await tokenRes.json() as { access_token: string };
  out.introspection = await cannon({ port: server.port, path: '/introspect', body: form({ token }), seconds: SECONDS });
  out.code_redemption = await singleUse(server, 'codes', (code) => form({ grant_type: 'authorization_code', code, redirect_uri: BENCH_CLIENT.redirectUri }));
  out.refresh = await singleUse(server, 'refreshTokens', (refresh_token) => form({ grant_type: 'refresh_token', refresh_token }));
  for (const [name, m] of Object.entries(out)) log(`  ${name}: ${round(m.rps)} req/s, p50 ${m.p50_ms} ms, p99 ${m.p99_ms} ms${m.non2xx ? `, ${m.non2xx} NOT 2xx` : ''}`);
  return out;
}

/** Whole logins, with the server's peak RSS sampled meanwhile. */
async function logins(server: BenchServer) {
  const password = 'correct horse battery staple';
  const totpSecret = generateSecret();
  const usernames = await server.call<string[]>('users', { n: 600, password, totpSecret });
  const users = { usernames, password, totpSecret };
  // a few logins first: JIT warm-up, and the first argon2 dummy hash
  await runLogins(`http://127.0.0.1:${server.port}`, { ...users, usernames: usernames.splice(0, 8) }, LOGIN_CONCURRENCY, 60);
  let peak = server.rssMb();
  log(`  RSS before the logins: ${round(peak)} MB`);
  const sampler = setInterval(() => { peak = Math.max(peak, server.rssMb()); }, 100);
  const r = await runLogins(`http://127.0.0.1:${server.port}`, users, LOGIN_CONCURRENCY, LOGIN_SECONDS);
  clearInterval(sampler);
  const sorted = r.latencies.sort((a, b) => a - b);
  const pct = (p: number) => round(sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN);
  const m = { rps: r.count / r.elapsed, p50_ms: pct(0.5), p99_ms: pct(0.99), failed: r.failures, peakRss: round(peak) };
  log(`  password+totp login: ${round(m.rps)} logins/s, p50 ${m.p50_ms} ms, p99 ${m.p99_ms} ms, ${r.failures} failed, peak RSS ${m.peakRss} MB${r.exhausted ? ' (ran out of users)' : ''}`);
  return m;
}

async function main() {
  pinSelf();
  log(`servers on ${SERVER_CPU ? `CPU ${SERVER_CPU} (taskset)` : 'any CPU (no taskset)'}, load from this process; ${SECONDS}s per scenario`);
  const rows: Row[] = [];

  log('Koa hello-world (ceiling)');
  const hello = await startServer('hello.ts');
  await cannon({ port: hello.port, path: '/', method: 'GET', seconds: 2 });
  const ceiling = await cannon({ port: hello.port, path: '/', method: 'GET', seconds: SECONDS });
  await hello.stop();
  log(`  hello: ${round(ceiling.rps)} req/s`);
  rows.push({ scenario: 'koa_hello_world', db: 'none', rps: ceiling.rps, p50_ms: ceiling.p50_ms, p99_ms: ceiling.p99_ms, baseline_rps: null, ratio: null });

  log('argon2id hash rate (m=19456, t=2, p=1)');
  const { rate: hashRate } = runScript<{ rate: number }>('argon2-rate.ts', [String(LOGIN_CONCURRENCY), '5']);
  log(`  ${round(hashRate)} hashes/s`);
  rows.push({ scenario: 'argon2id_hash', db: 'none', rps: hashRate, p50_ms: null, p99_ms: null, baseline_rps: null, ratio: null });

  log('bare oidc-provider, in-memory adapter (baseline)');
  const baselineServer = await startServer('baseline.ts');
  const baseline = await protocol(baselineServer);
  await baselineServer.stop();
  for (const [scenario, m] of Object.entries(baseline)) rows.push({ scenario, db: 'memory', rps: m.rps, p50_ms: m.p50_ms, p99_ms: m.p99_ms, baseline_rps: m.rps, ratio: 1 });

  const targets: { db: string; url: string; cleanup(): Promise<void> }[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'stepgate-bench-'));
  const dbs = (process.env.BENCH_DBS ?? 'sqlite,postgres').split(',');
  if (dbs.includes('sqlite')) targets.push({ db: 'sqlite', url: `sqlite:${join(dir, 'bench.sqlite')}`, async cleanup() { rmSync(dir, { recursive: true, force: true }); } });
  if (!dbs.includes('postgres')) {
    log('PostgreSQL not asked for (BENCH_DBS)');
  } else if (await postgresReachable()) {
    const name = `stepgate_bench_${randomBytes(4).toString('hex')}`;
    await withAdmin((c) => c.query(`CREATE DATABASE ${name}`));
    const url = new URL(PG_URL);
    url.pathname = `/${name}`;
    targets.push({ db: 'postgres', url: url.href, cleanup: () => withAdmin(async (c) => { await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`); }) });
  } else {
    log(`PostgreSQL not reachable at ${PG_URL}: skipped`);
  }

  for (const target of targets) {
    log(`stepgate on ${target.db}`);
    const env = {
      DATABASE_URL: target.url, STEPGATE_SECRET_KEYS: randomBytes(32).toString('base64'), STEPGATE_DATA_DIR: dir,
      NODE_ENV: 'production', ISSUER: 'https://stepgate.bench.test', STEPGATE_TRUST_PROXY: '1',
      LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'info', PORT: '0',
    };
    const server = await startServer('stepgate.ts', env, process.env.BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir=bench/results/profiles'] : []);
    try {
      const measured = await protocol(server);
      for (const [scenario, m] of Object.entries(measured)) {
        rows.push({ scenario, db: target.db, rps: m.rps, p50_ms: m.p50_ms, p99_ms: m.p99_ms, baseline_rps: baseline[scenario]!.rps, ratio: m.rps / baseline[scenario]!.rps });
      }
      const l = await logins(server);
      rows.push({ scenario: 'password_totp_login', db: target.db, rps: l.rps, p50_ms: l.p50_ms, p99_ms: l.p99_ms, baseline_rps: hashRate, ratio: l.rps / hashRate, peak_rss_mb: l.peakRss, failed: l.failed });
    } finally {
      await server.stop();
      await target.cleanup();
    }
  }

  const json = rows.map((r) => ({ ...r, rps: round(r.rps), baseline_rps: r.baseline_rps === null ? null : round(r.baseline_rps), ratio: r.ratio === null ? null : round(r.ratio, 2) }));
  const results = fileURLToPath(new URL('./results/', import.meta.url));
  writeFileSync(join(results, 'latest.json'), `${JSON.stringify(json, null, 2)}\n`);
  const md = [
    `Measured ${new Date().toISOString()} on ${SERVER_CPU ? 'one pinned CPU' : 'an unpinned CPU'} (Node ${process.version}); ratio = rps / baseline_rps measured in the same run`,
    '(baseline: bare oidc-provider in memory; for logins: the argon2id hash rate).',
    '',
    '| scenario | db | req/s | p50 ms | p99 ms | baseline req/s | ratio |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: |',
    ...json.map((r) => `| ${r.scenario} | ${r.db} | ${r.rps} | ${r.p50_ms ?? '–'} | ${r.p99_ms ?? '–'} | ${r.baseline_rps ?? '–'} | ${r.ratio ?? '–'} |`),
    '',
    ...json.filter((r) => r.peak_rss_mb !== undefined).map((r) => `Peak RSS of stepgate (${r.db}) under the login benchmark: ${r.peak_rss_mb} MB${r.failed ? `; ${r.failed} logins failed` : ''}.`),
  ].join('\n');
  writeFileSync(join(results, 'latest.md'), `${md}\n`);
  console.log(md);
  log('done');
}

await main();
