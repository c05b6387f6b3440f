/**
 * `npm run bench:login-routes`: where a login's CPU goes, request by request. stepgate on
 * SQLite and the bare oidc-provider of the login benchmark (bench/servers/baseline-login.ts:
 * the same requests, no hash, no storage, one-form pages) each serve 200 logins to warm up,
 * then LOGINS (300) logins one at a time, in three rounds alternating between the two (so
 * that a change in the machine's speed hits both alike), and the CPU from one request's
 * arrival to the next is that request's (bench/servers/route-cpu.ts). Prints, per route, the CPU of the
 * whole process and of its main thread (the event loop: the process less libuv's thread
 * pool, where the argon2id verify and the RS256 signature run, and V8's helper threads).
 * stepgate's SQL statements are counted per route the same way.
 * LOGIN_ROUTES_CLIENT=first-party uses the client that asks no consent;
 * LOGIN_ROUTES_HASH=minimal gives the users argon2id's least-cost hash (64 KiB, one pass), so
 * that the password step's CPU is the broker's and not the verify's.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSecret } from 'otplib';
import { pinSelf, startServer, type BenchServer } from './child.ts';
import { runLogins } from './login.ts';
import { BENCH_CLIENT, FIRST_PARTY_CLIENT } from './servers/client.ts';

const LOGINS = Number(process.env.LOGINS ?? 300);
const FLAGS = ['--max-semi-space-size=4', '--max-old-space-size=512'];
const client = process.env.LOGIN_ROUTES_CLIENT === 'first-party' ? FIRST_PARTY_CLIENT : BENCH_CLIENT;
process.env.MALLOC_ARENA_MAX = '1';
process.env.BENCH_ROUTE_CPU = '1';

type Row = { route: string; n: number; processMs: number; mainMs: number; statements?: number };

pinSelf();
const dir = mkdtempSync(join(tmpdir(), 'stepgate-login-routes-'));
const servers: [string, BenchServer][] = [];
try {
  servers.push(['stepgate (sqlite)', await startServer('stepgate.ts', {
    DATABASE_URL: `sqlite:${join(dir, 'bench.sqlite')}`, STEPGATE_SECRET_KEYS: randomBytes(32).toString('base64'), STEPGATE_DATA_DIR: dir,
    NODE_ENV: 'production', ISSUER: 'https://stepgate.bench.test', STEPGATE_TRUSTED_PROXIES: '1', LOG_LEVEL: 'info', PORT: '0',
  }, FLAGS)]);
  servers.push(['bare oidc-provider', await startServer('baseline-login.ts', {}, FLAGS)]);
  const password = 'correct horse battery staple';
  const totpSecret = generateSecret();
  const ROUNDS = 3;
  const users = new Map<BenchServer, string[]>();
  for (const [, server] of servers) {
    const usernames = await server.call<string[]>('users', { n: 200 + LOGINS, password, totpSecret, prefix: 'routes', hash: process.env.LOGIN_ROUTES_HASH });
    await runLogins(`http://127.0.0.1:${server.port}`, { usernames: usernames.splice(0, 200), password, totpSecret }, 4, 120, client);
    users.set(server, usernames);
  }
  // per server, per route: requests and CPU summed over the rounds
  const sums = servers.map(() => new Map<string, Row>());
  for (let r = 0; r < ROUNDS; r++) {
    for (const [i, [name, server]] of servers.entries()) {
      await server.call('routeCpu');
      const result = await runLogins(`http://127.0.0.1:${server.port}`, { usernames: users.get(server)!.splice(0, LOGINS / ROUNDS), password, totpSecret }, 1, 600, client);
      if (result.failures) console.error(`${name}: ${result.failures} logins failed`);
      for (const row of await server.call<Row[]>('routeCpu')) {
        const sum = sums[i]!.get(row.route) ?? { route: row.route, n: 0, processMs: 0, mainMs: 0, ...(row.statements !== undefined && { statements: 0 }) };
        sum.n += row.n;
        sum.processMs += row.processMs * row.n;
        sum.mainMs += row.mainMs * row.n;
        if (sum.statements !== undefined) sum.statements += row.statements! * row.n;
        sums[i]!.set(row.route, sum);
      }
    }
  }
  const tables = sums.map((m) => [...m.values()].map((r) => ({
    ...r, processMs: r.processMs / r.n, mainMs: r.mainMs / r.n, ...(r.statements !== undefined && { statements: r.statements / r.n }),
  })));
  const ms = (v: number | undefined) => (v === undefined ? '–' : v.toFixed(3));
  const routes = [...new Set(tables.flat().map((r) => r.route))];
  console.log(`CPU per request (ms), ${LOGINS} logins one at a time at ${client.clientId}; process = all threads, main = the event loop's thread`);
  console.log(`| route | requests per login | statements per request | ${servers.map(([n]) => `${n}: process | main`).join(' | ')} |`);
  console.log(`| --- | ---: | ---: | ${servers.map(() => '---: | ---:').join(' | ')} |`);
  const perLogin = tables.map(() => ({ process: 0, main: 0, statements: 0 }));
  for (const route of routes) {
    const cells = tables.map((t, i) => {
      const row = t.find((r) => r.route === route);
      if (row) {
        perLogin[i]!.process += (row.processMs * row.n) / LOGINS;
        perLogin[i]!.main += (row.mainMs * row.n) / LOGINS;
        perLogin[i]!.statements += ((row.statements ?? 0) * row.n) / LOGINS;
      }
      return `${ms(row?.processMs)} | ${ms(row?.mainMs)}`;
    });
    const n = tables[0]!.find((r) => r.route === route)?.n ?? tables[1]!.find((r) => r.route === route)?.n ?? 0;
    const statements = tables[0]!.find((r) => r.route === route)?.statements;
    console.log(`| ${route} | ${(n / LOGINS).toFixed(0)} | ${statements === undefined ? '–' : statements.toFixed(1)} | ${cells.join(' | ')} |`);
  }
  console.log(`| per login | | ${perLogin[0]!.statements.toFixed(1)} | ${perLogin.map((p) => `${p.process.toFixed(2)} | ${p.main.toFixed(2)}`).join(' | ')} |`);
} finally {
  await Promise.all(servers.map(([, s]) => s.stop()));
  rmSync(dir, { recursive: true, force: true });
}
