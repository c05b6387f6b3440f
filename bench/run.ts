/**
 * `npm run bench`: stepgate on SQLite (and on PostgreSQL when one is reachable) against a
 * bare oidc-provider with its in-memory adapter (the baseline) and a Koa hello-world (the
 * ceiling), all in this one run. Every server runs in its own process pinned to one CPU;
 * this process generates the load from the other. The machine may be shared, so each
 * scenario runs in short rounds that alternate between the servers (baseline, SQLite,
 * PostgreSQL, baseline, ...) and the median round counts: slow drift in the machine's
 * load then hits the baseline and stepgate alike. Writes bench/results/latest.json and
 * latest.md.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateSecret } from 'otplib';
import { cannon, type Measure } from './cannon.ts';
import { pinSelf, runScript, SERVER_CPU, startServer, type BenchServer } from './child.ts';
import { runLogins } from './login.ts';
import { tokenScenarios } from './token-scenarios.ts';
import { PG_URL, postgresDatabase } from './postgres.ts';
import { BENCH_CLIENT, FIRST_PARTY_CLIENT } from './servers/client.ts';

type Row = {
  scenario: string; db: string; rps: number; p50_ms: number | null; p99_ms: number | null; baseline_rps: number | null; ratio: number | null;
  /** server CPU time per request (per login; per hash for argon2id), and the baseline's over ours: a ratio of throughput per core */
  cpu_ms: number | null; baseline_cpu_ms: number | null; cpu_ratio: number | null;
  /** SQL statements per request (per login), counted inside stepgate */
  statements: number | null;
  /** the machine's 1-minute load average when the scenario's rounds ended (2 CPUs; the benchmark itself keeps about 2 busy) */
  load_1m: number;
  peak_rss_mb?: number; cpu_ms_besides_hash?: number;
  /** logins: the server's CPU per login outside libuv's thread pool, where the argon2id verify runs (measured per thread) */
  cpu_ms_outside_thread_pool?: number;
  /** logins: the CPU per login of a bare oidc-provider answering the same requests in memory (bench/servers/baseline-login.ts), in the same rounds */
  bare_login_cpu_ms?: number;
};
type Target = { db: string; server: BenchServer };

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const ROUND_SECONDS = Number(process.env.BENCH_ROUND_SECONDS ?? 2);
const LOGIN_SECONDS = Number(process.env.BENCH_LOGIN_SECONDS ?? 4);
const LOGIN_CONCURRENCY = 4;
/**
 * Unmeasured rounds of each scenario on each server before its measured rounds: what a
 * server that runs for days costs is its steady state. V8 optimises a request path only
 * after thousands of requests, and stepgate's longer path takes longer to settle than the
 * bare baseline's: measured alternately from cold, the baseline's introspection took 0.24,
 * 0.23, then 0.17-0.19 ms of CPU per request in its first, second and later 2-s rounds;
 * after two warm-up rounds, stepgate's client_credentials on SQLite stood at 0.51, 0.66,
 * 0.63 of the baseline in the next three rounds and at 0.58-0.84 in the nine after
 * (introspection 0.47-0.49, then 0.53-0.63; one run of 12 rounds each, 2026-12-03),
 * still rising at the end. So the measured rounds begin after eight warm-up rounds. (A
 * whole `npm run bench` of the same code with two warm-up rounds, the same hour, was
 * within the spread of two runs with eight: the medians of three rounds hide most of it.)
 */
const WARM_UP_ROUNDS = Number(process.env.BENCH_WARM_UP_ROUNDS ?? 8);
/** whole logins per server before the measured rounds (the same reason) */
const WARM_UP_LOGINS = 200;
/** BENCH_ONLY=client_credentials,login runs only those scenarios (names as in the results; `login` for whole logins) */
const ONLY = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(',')) : undefined;
const wanted = (name: string) => !ONLY || ONLY.has(name);
/** BENCH_DB=sqlite (or postgres) runs stepgate on that database only */
const DB_ONLY = process.env.BENCH_DB;
/** The Node flags and allocator setting `npm start` uses; every server gets them, so the comparison is like for like. */
const NODE_FLAGS = ['--max-semi-space-size=4', '--max-old-space-size=512'];
process.env.MALLOC_ARENA_MAX = '1';

const started = Date.now();
const log = (line: string) => console.error(`[${((Date.now() - started) / 1000).toFixed(0).padStart(3)}s] ${line}`);
const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const scenarios = tokenScenarios(ROUND_SECONDS);

async function main() {
  pinSelf();
  log(`servers on ${SERVER_CPU ? `CPU ${SERVER_CPU} (taskset)` : 'any CPU (no taskset)'}, load from this process; ${ROUNDS} rounds of ${ROUND_SECONDS}s per scenario and server`);
  const rows: Row[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'stepgate-bench-'));
  const postgres = DB_ONLY === 'sqlite' ? undefined : await postgresDatabase();
  if (!postgres) log(`PostgreSQL not reachable at ${PG_URL}: stepgate on SQLite only`);
  const stepgateEnv = (url: string) => ({
    DATABASE_URL: url, STEPGATE_SECRET_KEYS: randomBytes(32).toString('base64'), STEPGATE_DATA_DIR: dir,
    NODE_ENV: 'production', ISSUER: 'https://stepgate.bench.test', STEPGATE_TRUSTED_PROXIES: '1',
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'info', PORT: '0',
  });
  const profile = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${fileURLToPath(new URL('./results/profiles', import.meta.url))}`] : [];

  const servers: BenchServer[] = [];
  try {
    const hello = await startServer('hello.ts', {}, NODE_FLAGS);
    servers.push(hello);
    const baseline: Target = { db: 'memory', server: await startServer('baseline.ts', {}, NODE_FLAGS) };
    servers.push(baseline.server);
    const stepgates: Target[] = DB_ONLY === 'postgres' ? [] : [{ db: 'sqlite', server: await startServer('stepgate.ts', stepgateEnv(`sqlite:${join(dir, 'bench.sqlite')}`), [...NODE_FLAGS, ...profile]) }];
    if (postgres) stepgates.push({ db: 'postgres', server: await startServer('stepgate.ts', stepgateEnv(postgres.url), [...NODE_FLAGS, ...profile]) });
    servers.push(...stepgates.map((t) => t.server));
    const targets = [baseline, ...stepgates];

    log('warm-up');
    for (const t of [{ db: 'hello', server: hello }, ...targets]) {
      await cannon({ port: t.server.port, path: t.server === hello ? '/' : '/token', method: t.server === hello ? 'GET' : 'POST', body: 'grant_type=client_credentials', seconds: 2 });
    }

    // The ceiling
    const helloRounds: Measure[] = [];
    for (let r = 0; r < ROUNDS; r++) helloRounds.push(await cannon({ port: hello.port, path: '/', method: 'GET', seconds: ROUND_SECONDS, cpuMs: hello.cpuMs }));
    const helloRps = median(helloRounds.map((m) => m.rps));
    log(`koa hello-world: ${round(helloRps)} req/s (rounds: ${helloRounds.map((m) => round(m.rps, 0)).join(', ')})`);
    rows.push({ scenario: 'koa_hello_world', db: 'none', rps: helloRps, p50_ms: median(helloRounds.map((m) => m.p50_ms)), p99_ms: median(helloRounds.map((m) => m.p99_ms)), baseline_rps: null, ratio: null, cpu_ms: median(helloRounds.map((m) => m.cpuMsPerRequest)), baseline_cpu_ms: null, cpu_ratio: null, statements: null, load_1m: loadavg()[0]! });

    for (const scenario of scenarios.filter((s) => wanted(s.name))) {
      const measured = new Map<Target, Measure[]>(targets.map((t) => [t, []]));
      const estimate = new Map<Target, number>();
      // a small first batch of single-use artifacts tells how many a round needs
      if (scenario.name === 'code_redemption' || scenario.name === 'refresh') for (const t of targets) estimate.set(t, (await scenario.measure(t.server, 100)).rps);
      for (let w = 0; w < WARM_UP_ROUNDS; w++) for (const t of targets) estimate.set(t, (await scenario.measure(t.server, estimate.get(t))).rps);
      const statements = new Map<Target, number[]>(targets.map((t) => [t, []]));
      for (let r = 0; r < ROUNDS; r++) {
        for (const t of targets) {
          let before = 0;
          const m = await scenario.measure(t.server, estimate.get(t), async () => {
            if (t.db !== 'memory') before = await t.server.call<number>('statements');
          });
          if (t.db !== 'memory') statements.get(t)!.push((await t.server.call<number>('statements') - before) / m.requests);
          if (m.non2xx) log(`  WARNING ${scenario.name} on ${t.db}: ${m.non2xx} of ${m.requests} responses not 2xx`);
          estimate.set(t, m.rps);
          measured.get(t)!.push(m);
        }
      }
      const baselineRps = median(measured.get(baseline)!.map((m) => m.rps));
      const baselineCpu = median(measured.get(baseline)!.map((m) => m.cpuMsPerRequest));
      for (const t of targets) {
        const ms = measured.get(t)!;
        const rps = median(ms.map((m) => m.rps));
        const cpu = median(ms.map((m) => m.cpuMsPerRequest));
        const perRequest = t.db === 'memory' ? null : median(statements.get(t)!);
        rows.push({
          scenario: scenario.name, db: t.db, rps, p50_ms: median(ms.map((m) => m.p50_ms)), p99_ms: median(ms.map((m) => m.p99_ms)),
          baseline_rps: baselineRps, ratio: rps / baselineRps, cpu_ms: cpu, baseline_cpu_ms: baselineCpu, cpu_ratio: baselineCpu / cpu,
          statements: perRequest, load_1m: loadavg()[0]!,
        });
        log(`${scenario.name} on ${t.db}: ${round(rps)} req/s (rounds: ${ms.map((m) => round(m.rps, 0)).join(', ')}), ratio ${round(rps / baselineRps, 2)}; CPU ${round(cpu, 3)} ms/req, cpu ratio ${round(baselineCpu / cpu, 2)}; ${perRequest === null ? '' : `${round(perRequest, 2)} statements/req; `}load ${round(loadavg()[0]!)}`);
      }
    }

    // Whole logins against the argon2id hash rate, alternating too: at a client that asks
    // for consent, and at a first-party one (the operator's own application: no consent).
    // The bare oidc-provider answering the same requests in memory (no hash, no storage,
    // pages of one form) runs in the same rounds: the floor of a login's CPU besides the hash.
    // So do logins at the first client by users whose password hash has argon2id's least
    // cost: what the login costs besides the verify, measured rather than subtracted (the
    // production verify, on the same CPU, also slows the event loop down beside it).
    if (wanted('login')) {
    const password = 'correct horse battery staple';
    const totpSecret = generateSecret();
    const variants = [
      { scenario: 'password_totp_login', client: BENCH_CLIENT, bare: 'password_totp_login' },
      { scenario: 'password_totp_login_first_party', client: FIRST_PARTY_CLIENT, bare: 'password_totp_login_first_party' },
      { scenario: 'password_totp_login_minimal_hash', client: BENCH_CLIENT, bare: 'password_totp_login', hash: 'minimal' },
    ];
    const bare: Target = { db: 'memory', server: await startServer('baseline-login.ts', {}, NODE_FLAGS) };
    servers.push(bare.server);
    type Round = { rps: number; cpu: number; outsidePool: number; statements: number; latencies: number[]; peak: number };
    const runs = variants.flatMap((v) => [...(v.hash ? [] : [bare]), ...stepgates].map((t) => ({ ...v, t, users: [] as string[], rounds: [] as Round[] })));
    for (const run of runs) {
      // the bare server signs in any name, at several times stepgate's rate; so does stepgate without the hash's cost
      const n = WARM_UP_LOGINS + (run.t === bare ? 300 * ROUNDS * LOGIN_SECONDS : run.hash ? 100 * ROUNDS * LOGIN_SECONDS : 500);
      run.users = await run.t.server.call<string[]>('users', { n, password, totpSecret, prefix: run.scenario, hash: run.hash });
      await runLogins(`http://127.0.0.1:${run.t.server.port}`, { usernames: run.users.splice(0, WARM_UP_LOGINS), password, totpSecret }, LOGIN_CONCURRENCY, 60, run.client);
    }
    const hashes: { rate: number; cpuMsPerHash: number; inFlight: number }[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      hashes.push(runScript<{ rate: number; cpuMsPerHash: number; inFlight: number }>('argon2-rate.ts', [String(LOGIN_SECONDS)]));
      for (const run of runs) {
        const { server } = run.t;
        let peak = server.rssMb();
        const sampler = setInterval(() => { peak = Math.max(peak, server.rssMb()); }, 100);
        const counted = run.t !== bare;
        const statementsBefore = counted ? await server.call<number>('statements') : 0;
        const cpuBefore = server.cpuMs();
        const outsideBefore = server.cpuMsOutsideThreadPool();
        const result = await runLogins(`http://127.0.0.1:${server.port}`, { usernames: run.users, password, totpSecret }, LOGIN_CONCURRENCY, LOGIN_SECONDS, run.client);
        const cpu = (server.cpuMs() - cpuBefore) / result.count;
        const outsidePool = (server.cpuMsOutsideThreadPool() - outsideBefore) / result.count;
        const statements = counted ? (await server.call<number>('statements') - statementsBefore) / result.count : 0;
        clearInterval(sampler);
        run.users.splice(0, result.count + result.failures);
        if (result.failures) log(`  WARNING ${result.failures} logins failed on ${run.t.db}`);
        run.rounds.push({ rps: result.count / result.elapsed, cpu, outsidePool, statements, latencies: result.latencies, peak });
      }
    }
    const hashRate = median(hashes.map((h) => h.rate));
    const hashCpu = median(hashes.map((h) => h.cpuMsPerHash));
    log(`argon2id hash rate (m=19456, t=2, p=1, ${hashes[0]!.inFlight} in flight, as in the server): ${round(hashRate)}/s (rounds: ${hashes.map((h) => round(h.rate)).join(', ')}); CPU ${round(hashCpu)} ms/hash`);
    rows.push({ scenario: 'argon2id_hash', db: 'none', rps: hashRate, p50_ms: null, p99_ms: null, baseline_rps: null, ratio: null, cpu_ms: hashCpu, baseline_cpu_ms: null, cpu_ratio: null, statements: null, load_1m: loadavg()[0]! });
    const bareRuns = new Map(runs.filter((r) => r.t === bare).map((r) => [r.scenario, { cpu: median(r.rounds.map((l) => l.cpu)), rps: median(r.rounds.map((l) => l.rps)) }]));
    for (const { scenario, t, rounds: ls, bare: bareScenario, hash } of runs) {
      const bareCpu = bareRuns.get(bareScenario)!.cpu;
      const rps = median(ls.map((l) => l.rps));
      const cpu = median(ls.map((l) => l.cpu));
      const all = ls.flatMap((l) => l.latencies).sort((a, b) => a - b);
      const pct = (p: number) => round(all[Math.min(all.length - 1, Math.floor(p * all.length))] ?? NaN);
      if (t === bare) {
        rows.push({ scenario, db: t.db, rps, p50_ms: pct(0.5), p99_ms: pct(0.99), baseline_rps: null, ratio: null, cpu_ms: cpu, baseline_cpu_ms: null, cpu_ratio: null, statements: null, load_1m: loadavg()[0]! });
        log(`${scenario} on the bare oidc-provider: ${round(rps, 2)} logins/s (rounds: ${ls.map((l) => round(l.rps, 1)).join(', ')}); CPU ${round(cpu)} ms/login`);
        continue;
      }
      const outsidePool = median(ls.map((l) => l.outsidePool));
      const statements = median(ls.map((l) => l.statements));
      const peak = round(Math.max(...ls.map((l) => l.peak)));
      if (hash) {
        // against the bare oidc-provider's same login: the CPU besides the verify, measured
        const bareRps = bareRuns.get(bareScenario)!.rps;
        rows.push({
          scenario, db: t.db, rps, p50_ms: pct(0.5), p99_ms: pct(0.99), baseline_rps: bareRps, ratio: rps / bareRps,
          cpu_ms: cpu, baseline_cpu_ms: bareCpu, cpu_ratio: bareCpu / cpu, cpu_ms_outside_thread_pool: outsidePool, statements, load_1m: loadavg()[0]!, peak_rss_mb: peak,
        });
        log(`${scenario} on ${t.db}: ${round(rps, 2)} logins/s (rounds: ${ls.map((l) => round(l.rps, 1)).join(', ')}); CPU ${round(cpu)} ms/login (${round(outsidePool)} outside the thread pool; the bare oidc-provider's ${round(bareCpu)}), ${round(statements)} statements`);
        continue;
      }
      // one argon2id verify per login; the rest is the broker's own work
      rows.push({
        scenario, db: t.db, rps, p50_ms: pct(0.5), p99_ms: pct(0.99), baseline_rps: hashRate, ratio: rps / hashRate,
        cpu_ms: cpu, baseline_cpu_ms: hashCpu, cpu_ratio: hashCpu / cpu, cpu_ms_besides_hash: cpu - hashCpu, cpu_ms_outside_thread_pool: outsidePool,
        bare_login_cpu_ms: bareCpu, statements, load_1m: loadavg()[0]!, peak_rss_mb: peak,
      });
      log(`${scenario} on ${t.db}: ${round(rps, 2)} logins/s (rounds: ${ls.map((l) => round(l.rps, 1)).join(', ')}), ratio ${round(rps / hashRate, 2)}; CPU ${round(cpu)} ms/login, ${round(cpu - hashCpu)} besides the hash (${round(outsidePool)} outside the thread pool; the bare oidc-provider's ${round(bareCpu)}), ${round(statements)} statements; peak RSS ${peak} MB`);
    }
    }
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    await postgres?.drop();
    rmSync(dir, { recursive: true, force: true });
  }

  const opt = (v: number | null, digits: number) => (v === null ? null : round(v, digits));
  const json = rows.map((r) => ({
    ...r, rps: round(r.rps), baseline_rps: opt(r.baseline_rps, 1), ratio: opt(r.ratio, 2),
    cpu_ms: opt(r.cpu_ms, 3), baseline_cpu_ms: opt(r.baseline_cpu_ms, 3), cpu_ratio: opt(r.cpu_ratio, 2), statements: opt(r.statements, 1), load_1m: round(r.load_1m, 1),
    ...(r.cpu_ms_besides_hash === undefined ? {} : { cpu_ms_besides_hash: round(r.cpu_ms_besides_hash, 2) }),
    ...(r.cpu_ms_outside_thread_pool === undefined ? {} : { cpu_ms_outside_thread_pool: round(r.cpu_ms_outside_thread_pool, 2) }),
    ...(r.bare_login_cpu_ms === undefined ? {} : { bare_login_cpu_ms: round(r.bare_login_cpu_ms, 2) }),
  }));
  const results = fileURLToPath(new URL('./results/', import.meta.url));
  // a partial run (BENCH_ONLY, BENCH_DB) does not replace the full results
  const base = ONLY || DB_ONLY ? 'partial' : 'latest';
  writeFileSync(join(results, `${base}.json`), `${JSON.stringify(json, null, 2)}\n`);
  const md = [
    `Measured ${new Date().toISOString()}, Node ${process.version}, each server on ${SERVER_CPU ? 'one pinned CPU' : 'an unpinned CPU'}, ${ROUNDS} alternating rounds, medians.`,
    'ratio = req/s ÷ baseline req/s of the same run (baseline: bare oidc-provider in memory; for logins: the argon2id hash rate; the logins\' memory rows: a bare oidc-provider answering the same requests without hash or storage, the baseline of the minimal-hash logins).',
    'CPU ms = the server process\'s CPU time (all threads) per request, per login, per hash; cpu ratio = baseline CPU ÷ ours, i.e. throughput per core,',
    'which other load on the machine disturbs far less than req/s. PostgreSQL\'s own CPU is not counted.',
    '',
    'Statements = SQL statements per request (per login) counted inside stepgate. Load = the machine\'s 1-minute load average (2 CPUs) after the rounds.',
    '',
    '| scenario | db | req/s | p50 ms | p99 ms | baseline req/s | ratio | CPU ms | baseline CPU ms | cpu ratio | statements | load |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...json.map((r) => `| ${r.scenario} | ${r.db} | ${r.rps} | ${r.p50_ms ?? '–'} | ${r.p99_ms ?? '–'} | ${r.baseline_rps ?? '–'} | ${r.ratio ?? '–'} | ${r.cpu_ms ?? '–'} | ${r.baseline_cpu_ms ?? '–'} | ${r.cpu_ratio ?? '–'} | ${r.statements ?? '–'} | ${r.load_1m} |`),
    '',
    ...json.filter((r) => r.cpu_ms_besides_hash !== undefined).map((r) => `CPU per login (${r.scenario}) on ${r.db} besides the argon2id verify: ${r.cpu_ms_besides_hash} ms (outside the thread pool, where it runs: ${r.cpu_ms_outside_thread_pool} ms), ${r.statements} statements; a bare oidc-provider answering the same requests in memory: ${r.bare_login_cpu_ms} ms.`),
    ...json.filter((r) => r.scenario === 'password_totp_login_minimal_hash').map((r) => `CPU per login (password_totp_login) on ${r.db} with a minimal-cost argon2id hash (64 KiB, one pass): ${r.cpu_ms} ms (outside the thread pool: ${r.cpu_ms_outside_thread_pool} ms), ${r.statements} statements; the bare oidc-provider's: ${r.baseline_cpu_ms} ms.`),
    ...json.filter((r) => r.peak_rss_mb !== undefined && r.scenario !== 'password_totp_login_minimal_hash').map((r) => `Peak RSS of stepgate on ${r.db} during ${r.scenario}: ${r.peak_rss_mb} MB.`),
  ].join('\n');
  writeFileSync(join(results, `${base}.md`), `${md}\n`);
  console.log(md);
  log('done');
}

await main();
