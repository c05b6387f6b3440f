/**
 * `npm run bench:where -- [scenario]`: where a token request's event-loop CPU goes, by
 * kind of code, in stepgate on SQLite and in the bare oidc-provider of `npm run bench`.
 * Each server is warmed up (WHERE_WARM_UP rounds), then `perf record` samples its event
 * loop thread (on-CPU time only) during WHERE_ROUNDS rounds; the samples' shares are
 * turned into µs per request with the thread's CPU time measured around the same rounds.
 *
 * Why perf and not `node --cpu-prof`: V8's profiler samples by wall clock, so time the
 * event loop spends descheduled (the thread pool's RS256 signature or argon2id hash on the
 * same pinned CPU) or blocked in a system call is charged to whatever JavaScript was on the
 * stack: in one such profile of code redemption SQLite's COMMIT stood at 11 % of the
 * samples. `getrusage(RUSAGE_THREAD)` around single statements is no better: a thread's
 * CPU clock only advances at scheduler ticks (steps of up to 4 ms). perf's cpu-clock
 * samples count only time on a CPU. Needs `perf` (Debian: linux-perf). Figures under
 * perf run higher than without it (its sampling costs both servers); compare the columns.
 * Scenarios: client_credentials, introspection, code_redemption (default), refresh.
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pinSelf, startServer, type BenchServer } from './child.ts';
import { tokenScenarios } from './token-scenarios.ts';
import { categoryOf } from './where-categories.ts';

const ROUNDS = Number(process.env.WHERE_ROUNDS ?? 3);
const WARM_UP = Number(process.env.WHERE_WARM_UP ?? 8);
/** WHERE_TOP=N: also list each server's N costliest symbols (µs per request). */
const TOP = Number(process.env.WHERE_TOP ?? 0);
const NODE_FLAGS = ['--max-semi-space-size=4', '--max-old-space-size=512', '--perf-basic-prof'];
process.env.MALLOC_ARENA_MAX = '1';

try {
  execFileSync('perf', ['--version'], { stdio: 'ignore' });
} catch {
  console.error('perf is not installed (Debian: apt-get install -y linux-perf)');
  process.exit(2);
}
const name = process.argv[2] ?? 'code_redemption';
const scenario = tokenScenarios(2).find((s) => s.name === name);
if (!scenario) {
  console.error(`no such scenario: ${name} (client_credentials, introspection, code_redemption, refresh)`);
  process.exit(2);
}

/** Samples of one `perf record` file as [dso, symbol, percent] rows. */
function samples(file: string): [string, string, number][] {
  const report = execFileSync('perf', ['report', '-i', file, '--sort', 'dso,sym', '--stdio'], { maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'ignore'] }).toString();
  const rows: [string, string, number][] = [];
  for (const line of report.split('\n')) {
    const m = /^\s*([\d.]+)%\s+(\[JIT\] tid \d+|\S+)\s+\[.\]\s+(.*)$/.exec(line);
    if (m) rows.push([m[2]!, m[3]!.trim(), Number(m[1])]);
  }
  return rows;
}

/** µs of event-loop CPU per request, by category, over ROUNDS rounds sampled by perf. */
async function measure(server: BenchServer, label: string): Promise<Map<string, number>> {
  const perSymbol = new Map<string, number>();
  let estimate: number | undefined;
  for (let w = 0; w < WARM_UP; w++) estimate = (await scenario!.measure(server, estimate)).rps;
  const perCategory = new Map<string, number>();
  let mainMs = 0;
  let requests = 0;
  const shares: [string, string, number][][] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const file = join(dir, `${label}.${r}.data`);
    let perf: ReturnType<typeof spawn> | undefined;
    let before = 0;
    // started after the round's codes or tokens are minted, so only the requests are sampled
    const m = await scenario!.measure(server, estimate, async () => {
      perf = spawn('perf', ['record', '-F', '2999', '-t', String(server.pid), '-o', file], { stdio: 'ignore' });
      await new Promise((resolve) => setTimeout(resolve, 300));
      before = server.cpuMsByThread().main;
    });
    mainMs += server.cpuMsByThread().main - before;
    requests += m.requests;
    perf!.kill('SIGINT');
    await new Promise((resolve) => perf!.once('exit', resolve));
    shares.push(samples(file));
  }
  const usPerRequest = (1000 * mainMs) / requests;
  for (const rows of shares) {
    for (const [dso, symbol, percent] of rows) {
      const category = categoryOf(dso, symbol);
      const us = (percent / 100) * usPerRequest / ROUNDS;
      perCategory.set(category, (perCategory.get(category) ?? 0) + us);
      const key = `${category}: ${symbol.replace(/^(\S+ \S+?)(?::\d+)+$/, '$1')}`;
      perSymbol.set(key, (perSymbol.get(key) ?? 0) + us);
    }
  }
  if (TOP > 0) {
    console.log(`${label}: the ${TOP} costliest symbols, µs per request`);
    for (const [symbol, us] of [...perSymbol].sort((x, y) => y[1] - x[1]).slice(0, TOP)) console.log(`${us.toFixed(1).padStart(9)}  ${symbol}`);
  }
  return perCategory;
}

/** Stops a server and removes the symbol map `--perf-basic-prof` wrote for it. */
async function stop(server: BenchServer): Promise<void> {
  await server.stop();
  rmSync(`/tmp/perf-${server.pid}.map`, { force: true });
}

pinSelf();
const dir = mkdtempSync(join(tmpdir(), 'stepgate-where-'));
try {
  const ours = await startServer('stepgate.ts', {
    DATABASE_URL: `sqlite:${join(dir, 'bench.sqlite')}`, STEPGATE_SECRET_KEYS: randomBytes(32).toString('base64'), STEPGATE_DATA_DIR: dir,
    NODE_ENV: 'production', ISSUER: 'https://stepgate.bench.test', STEPGATE_TRUSTED_PROXIES: '1', LOG_LEVEL: 'info', PORT: '0',
  }, NODE_FLAGS);
  const a = await measure(ours, 'stepgate');
  await stop(ours);
  const bare = await startServer('baseline.ts', {}, NODE_FLAGS);
  const b = await measure(bare, 'baseline');
  await stop(bare);
  console.log(`${name}: µs of event-loop CPU per request (perf cpu-clock samples, ${ROUNDS} rounds after ${WARM_UP} warm-up, under perf)`);
  console.log(`${'stepgate'.padStart(9)} ${'bare'.padStart(9)} ${'more'.padStart(9)}  kind of code`);
  const total = (m: Map<string, number>) => [...m.values()].reduce((x, y) => x + y, 0);
  for (const category of [...new Set([...a.keys(), ...b.keys()])].sort((x, y) => ((a.get(y) ?? 0) - (b.get(y) ?? 0)) - ((a.get(x) ?? 0) - (b.get(x) ?? 0)))) {
    const [x, y] = [a.get(category) ?? 0, b.get(category) ?? 0];
    if (x < 0.5 && y < 0.5) continue;
    console.log(`${x.toFixed(1).padStart(9)} ${y.toFixed(1).padStart(9)} ${(x - y >= 0 ? '+' : '') + (x - y).toFixed(1).padStart(8)}  ${category}`);
  }
  console.log(`${total(a).toFixed(1).padStart(9)} ${total(b).toFixed(1).padStart(9)}            all`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
