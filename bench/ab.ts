/**
 * `npm run bench:ab -- <other checkout> [scenario,...]`: is a change cheaper? Three servers
 * (stepgate on SQLite unless AB_DB says otherwise): the bare oidc-provider of `npm run bench` (the baseline), this tree's stepgate
 * and the other checkout's (e.g. `git worktree add --detach ../base HEAD`, then
 * `ln -s "$PWD/node_modules" ../base/`), each in its own process on the one pinned CPU.
 * Rounds alternate between the three (AB_WARM_UP unmeasured rounds, then AB_ROUNDS
 * measured, each AB_SECONDS long), and each round of the other is compared with this tree's
 * round beside it: on a shared machine the speed drifts by more than most changes are worth
 * (the same code has varied by 15 % between rounds a minute apart), and pairs of
 * neighbouring rounds see nearly the same machine. Prints, per scenario, the medians, the
 * median of the paired differences, in how many pairs the other was cheaper, and how often
 * chance alone (a fair coin per pair) gives a split at least that uneven.
 * Scenarios: client_credentials, introspection, code_redemption, refresh (default: the first two).
 * AB_OTHER_NODE_FLAGS (e.g. "--no-maglev") are added to the other checkout's Node flags
 * only: is a runtime setting cheaper? (The other checkout may then be this tree itself.)
 * AB_DB=postgres runs both stepgates on PostgreSQL instead (a fresh database each, on the
 * server of `npm run bench`; PostgreSQL's own CPU is not counted).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pinSelf, startServer, type BenchServer } from './child.ts';
import { tokenScenarios } from './token-scenarios.ts';
import { PG_URL, postgresDatabase } from './postgres.ts';

const ROUNDS = Number(process.env.AB_ROUNDS ?? 15);
const WARM_UP = Number(process.env.AB_WARM_UP ?? 8);
const SECONDS = Number(process.env.AB_SECONDS ?? 2);
/** as `npm run bench` (and `npm start`) give every server */
const NODE_FLAGS = ['--max-semi-space-size=4', '--max-old-space-size=512'];
process.env.MALLOC_ARENA_MAX = '1';
const OTHER_NODE_FLAGS = [...NODE_FLAGS, ...(process.env.AB_OTHER_NODE_FLAGS ?? '').split(' ').filter(Boolean)];

const [otherDir, names = 'client_credentials,introspection'] = process.argv.slice(2);
const other = otherDir && resolve(otherDir, 'bench/servers/stepgate.ts');
if (!other || !existsSync(other)) {
  console.error('usage: npm run bench:ab -- <another checkout of stepgate, with node_modules> [client_credentials,introspection,code_redemption,refresh]');
  process.exit(2);
}
const scenarios = tokenScenarios(SECONDS).filter((s) => names.split(',').includes(s.name));
if (!scenarios.length) {
  console.error(`no such scenario: ${names}`);
  process.exit(2);
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
/** Two-sided sign test: the chance of a split at least as uneven as `k` of `n` with a fair coin. */
function signTest(k: number, n: number): number {
  const choose = (m: number, r: number) => { let c = 1; for (let i = 1; i <= r; i++) c = (c * (m - i + 1)) / i; return c; };
  const extreme = Math.max(k, n - k);
  let tail = 0;
  for (let i = extreme; i <= n; i++) tail += choose(n, i) / 2 ** n;
  return Math.min(1, 2 * tail);
}

const DB = process.env.AB_DB ?? 'sqlite';
if (DB !== 'sqlite' && DB !== 'postgres') {
  console.error(`AB_DB is sqlite or postgres, not ${DB}`);
  process.exit(2);
}

pinSelf();
const dir = mkdtempSync(join(tmpdir(), 'stepgate-ab-'));
const databases = DB === 'postgres' ? [await postgresDatabase(), await postgresDatabase()] : [];
if (DB === 'postgres' && !databases.every(Boolean)) {
  console.error(`PostgreSQL not reachable at ${PG_URL}`);
  process.exit(2);
}
const env = (name: string, database = `sqlite:${join(dir, `${name}.sqlite`)}`) => ({
  DATABASE_URL: database, STEPGATE_SECRET_KEYS: randomBytes(32).toString('base64'), STEPGATE_DATA_DIR: dir,
  NODE_ENV: 'production', ISSUER: 'https://stepgate.bench.test', STEPGATE_TRUSTED_PROXIES: '1', LOG_LEVEL: 'info', PORT: '0',
});
const servers: { name: string; server: BenchServer }[] = [];
try {
  servers.push({ name: 'baseline', server: await startServer('baseline.ts', {}, NODE_FLAGS) });
  servers.push({ name: 'this tree', server: await startServer('stepgate.ts', env('this', databases[0]?.url), NODE_FLAGS) });
  servers.push({ name: otherDir!, server: await startServer(other, env('other', databases[1]?.url), OTHER_NODE_FLAGS) });
  console.log(`${ROUNDS} measured rounds of ${SECONDS} s after ${WARM_UP} warm-up rounds, alternating; CPU ms per request (all threads), ${DB === 'postgres' ? 'PostgreSQL' : 'SQLite'}${process.env.AB_OTHER_NODE_FLAGS ? `; ${otherDir} with ${process.env.AB_OTHER_NODE_FLAGS}` : ""}`);
  for (const scenario of scenarios) {
    const estimate = new Map<BenchServer, number>();
    for (let w = 0; w < WARM_UP; w++) for (const { server } of servers) estimate.set(server, (await scenario.measure(server, estimate.get(server))).rps);
    const cpu = servers.map(() => [] as number[]);
    const threads = servers.map(() => ({ main: 0, pool: 0, helpers: 0, requests: 0 }));
    for (let r = 0; r < ROUNDS; r++) {
      for (const [i, { name, server }] of servers.entries()) {
        let before = server.cpuMsByThread();
        const m = await scenario.measure(server, estimate.get(server), async () => { before = server.cpuMsByThread(); });
        const after = server.cpuMsByThread();
        if (m.non2xx) console.error(`  WARNING ${scenario.name} on ${name}: ${m.non2xx} of ${m.requests} responses not 2xx`);
        estimate.set(server, m.rps);
        cpu[i]!.push(m.cpuMsPerRequest);
        for (const k of ['main', 'pool', 'helpers'] as const) threads[i]![k] += after[k] - before[k];
        threads[i]!.requests += m.requests;
      }
    }
    const base = median(cpu[0]!);
    console.log(`\n${scenario.name}`);
    for (const [i, { name }] of servers.entries()) {
      const t = threads[i]!;
      const per = (v: number) => (v / t.requests).toFixed(3);
      console.log(`  ${name.padEnd(12)} ${median(cpu[i]!).toFixed(3)} ms (baseline ÷ it: ${(base / median(cpu[i]!)).toFixed(2)}); threads: main ${per(t.main)}, thread pool ${per(t.pool)}, V8 helpers ${per(t.helpers)}; rounds ${cpu[i]!.map((v) => v.toFixed(3)).join(' ')}`);
    }
    const diffs = cpu[2]!.map((v, r) => v - cpu[1]![r]!);
    const cheaper = diffs.filter((d) => d < 0).length;
    const d = median(diffs);
    console.log(`  ${otherDir} − this tree, pair by pair: median ${d >= 0 ? '+' : ''}${d.toFixed(3)} ms (${((100 * d) / median(cpu[1]!)).toFixed(1)} %); cheaper in ${cheaper} of ${ROUNDS} pairs (a fair coin splits as unevenly ${(100 * signTest(cheaper, ROUNDS)).toFixed(1)} % of the time)`);
  }
} finally {
  await Promise.all(servers.map(({ server }) => server.stop()));
  for (const database of databases) await database?.drop();
  rmSync(dir, { recursive: true, force: true });
}
