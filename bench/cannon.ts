import autocannon from 'autocannon';
import { BENCH_CLIENT } from './servers/client.ts';

export type Measure = { rps: number; p50_ms: number; p99_ms: number; requests: number; non2xx: number; cpuMsPerRequest: number };

const BASIC = `Basic ${Buffer.from(`${BENCH_CLIENT.clientId}:${BENCH_CLIENT.secret}`).toString('base64')}`;
/** The benchmark plays the TLS-terminating proxy in front of a production stepgate. */
export const PROXY_HEADERS = { 'x-forwarded-proto': 'https' };
const FORM_HEADERS = { ...PROXY_HEADERS, authorization: BASIC, 'content-type': 'application/x-www-form-urlencoded' };

/**
 * One autocannon run against a loopback port. `bodies` gives each request its own body
 * (a pre-minted code or refresh token, used once); then the run makes exactly that many
 * requests. Otherwise it runs for `seconds` with `body` on every request.
 */
export async function cannon(opts: { port: number; path: string; method?: 'GET' | 'POST'; body?: string; bodies?: string[]; seconds?: number; connections?: number; cpuMs?: () => number }): Promise<Measure> {
  const { bodies } = opts;
  let next = 0;
  // autocannon notices that `amount` is reached only on its one-second tick: time the
  // run from its first request to its last response instead.
  let first = 0;
  let last = 0;
  const cpuBefore = opts.cpuMs?.() ?? 0;
  const result = await autocannon({
    url: `http://127.0.0.1:${opts.port}`,
    connections: opts.connections ?? 10,
    ...(bodies ? { amount: bodies.length } : { duration: opts.seconds ?? 6 }),
    requests: [{
      method: opts.method ?? 'POST',
      path: opts.path,
      headers: opts.method === 'GET' ? PROXY_HEADERS : FORM_HEADERS,
      ...(bodies ? { setupRequest: (req: autocannon.Request) => ({ ...req, body: bodies[next++ % bodies.length] }) } : { body: opts.body }),
      onResponse: () => {
        last = performance.now();
      },
    }],
    setupClient: () => {
      first ||= performance.now();
    },
  });
  const cpu = (opts.cpuMs?.() ?? 0) - cpuBefore;
  const seconds = bodies ? (last - first) / 1000 : (result.finish.getTime() - result.start.getTime()) / 1000;
  return {
    rps: result.requests.total / seconds,
    p50_ms: result.latency.p50,
    p99_ms: result.latency.p99,
    requests: result.requests.total,
    non2xx: result.non2xx + result.errors + result.timeouts,
    /** the server's CPU time per request (all its threads): throughput per core, whatever else the machine is doing */
    cpuMsPerRequest: cpu / result.requests.total,
  };
}

export const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
