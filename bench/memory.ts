/**
 * `npm run bench:memory`: stepgate's memory through the benchmark's phases, on SQLite. The
 * token scenarios (client_credentials, code redemption, refresh) run first, as in
 * `npm run bench`, then whole logins, while the process's RSS is sampled every 100 ms.
 * Prints RSS and V8's heap after each phase and the peak during the logins.
 *
 * The Node flags are `npm start`'s unless BENCH_NODE_FLAGS gives others, e.g. without the
 * old-space ceiling: BENCH_NODE_FLAGS=--max-semi-space-size=4 npm run bench:memory
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSecret } from 'otplib';
import { cannon, form } from './cannon.ts';
import { pinSelf, startServer } from './child.ts';
import { runLogins } from './login.ts';
import { BENCH_CLIENT } from './servers/client.ts';

const FLAGS = (process.env.BENCH_NODE_FLAGS ?? '--max-semi-space-size=4 --max-old-space-size=512').split(' ').filter(Boolean);
process.env.MALLOC_ARENA_MAX = '1';

pinSelf();
const dir = mkdtempSync(join(tmpdir(), 'stepgate-memory-'));
const server = await startServer('stepgate.ts', {
  DATABASE_URL: `sqlite:${join(dir, 'bench.sqlite')}`, STEPGATE_SECRET_KEYS: randomBytes(32).toString('base64'), STEPGATE_DATA_DIR: dir,
  NODE_ENV: 'production', ISSUER: 'https://stepgate.bench.test', STEPGATE_TRUSTED_PROXIES: '1', LOG_LEVEL: 'info', PORT: '0',
}, FLAGS);
const mb = (bytes: number) => (bytes / 2 ** 20).toFixed(0);
const report = async (phase: string) => {
  const m = await server.call<NodeJS.MemoryUsage>('memory');
  console.log(`${phase.padEnd(22)} RSS ${server.rssMb().toFixed(0)} MB, heap ${mb(m.heapTotal)} MB (${mb(m.heapUsed)} used)`);
};

try {
  console.log(`node flags: ${FLAGS.join(' ')}`);
  await report('started');
  for (let r = 0; r < 3; r++) await cannon({ port: server.port, path: '/token', body: form({ grant_type: 'client_credentials' }), seconds: 2 });
  await report('client_credentials');
  for (let r = 0; r < 3; r++) {
    const codes = await server.call<string[]>('codes', { n: 1500 });
    await cannon({ port: server.port, path: '/token', bodies: codes.map((code) => form({ grant_type: 'authorization_code', code, redirect_uri: BENCH_CLIENT.redirectUri })) });
  }
  await report('code redemption');
  for (let r = 0; r < 3; r++) {
    const tokens = await server.call<string[]>('refreshTokens', { n: 1500 });
    await cannon({ port: server.port, path: '/token', bodies: tokens.map((refresh_token) => form({ grant_type: 'refresh_token', refresh_token })) });
  }
  await report('refresh');
  const password = 'correct horse battery staple';
  const totpSecret = generateSecret();
  const users = await server.call<string[]>('users', { n: 300, password, totpSecret });
  let peak = server.rssMb();
  const sampler = setInterval(() => { peak = Math.max(peak, server.rssMb()); }, 100);
  let logins = 0;
  for (let r = 0; r < 3; r++) logins += (await runLogins(`http://127.0.0.1:${server.port}`, { usernames: users.splice(0, 100), password, totpSecret }, 4, 4)).count;
  clearInterval(sampler);
  await report(`${logins} logins`);
  console.log(`peak RSS during the logins: ${peak.toFixed(0)} MB`);
} finally {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
