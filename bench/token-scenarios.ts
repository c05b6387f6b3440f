import { cannon, form, PROXY_HEADERS, type Measure } from './cannon.ts';
import type { BenchServer } from './child.ts';
import { BENCH_CLIENT } from './servers/client.ts';

/** One scenario: a function that measures one round against one server; `loading` is called just before the load starts. */
export type Scenario = { name: string; measure(server: BenchServer, estimate: number | undefined, loading?: () => Promise<void>): Promise<Measure> };

const BASIC = `Basic ${Buffer.from(`${BENCH_CLIENT.clientId}:${BENCH_CLIENT.secret}`).toString('base64')}`;
const cc = form({ grant_type: 'client_credentials' });

/**
 * The token API's scenarios (`npm run bench` and `npm run bench:ab`), each round `seconds`
 * long: client_credentials, introspection, code redemption, refresh.
 */
export function tokenScenarios(seconds: number): Scenario[] {
  /** Single-use artifacts (codes, refresh tokens): minted for about one round at the last rate seen, then used once each. */
  function singleUse(name: string, op: 'codes' | 'refreshTokens', toBody: (v: string) => string): Scenario {
    return {
      name,
      async measure(server, estimate, loading) {
        const n = Math.min(6000, Math.max(200, Math.round((estimate ?? 100) * seconds)));
        const values = await server.call<string[]>(op, { n });
        await loading?.();
        return cannon({ port: server.port, path: '/token', bodies: values.map(toBody), cpuMs: server.cpuMs });
      },
    };
  }

  const tokens = new Map<BenchServer, string>();
  return [
    { name: 'client_credentials', measure: async (server, _, loading) => (await loading?.(), cannon({ port: server.port, path: '/token', body: cc, seconds, cpuMs: server.cpuMs })) },
    {
      name: 'introspection',
      async measure(server, _, loading) {
        if (!tokens.has(server)) {
          const res = await fetch(`http://127.0.0.1:${server.port}/token`, { method: 'POST', body: cc, headers: { ...PROXY_HEADERS, authorization: BASIC, 'content-type': 'application/x-www-form-urlencoded' } });
          tokens.set(server, ((await res.json()) as { access_token: string }).access_token);
        }
        await loading?.();
        return cannon({ port: server.port, path: '/introspect', body: form({ token: tokens.get(server)! }), seconds, cpuMs: server.cpuMs });
      },
    },
    singleUse('code_redemption', 'codes', (code) => form({ grant_type: 'authorization_code', code, redirect_uri: BENCH_CLIENT.redirectUri })),
    singleUse('refresh', 'refreshTokens', (refresh_token) => form({ grant_type: 'refresh_token', refresh_token })),
  ];
}
