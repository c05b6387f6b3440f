import { createHash, randomBytes } from 'node:crypto';
import { generate } from 'otplib';
import { BENCH_CLIENT } from './servers/client.ts';

type Client = typeof BENCH_CLIENT;
import { PROXY_HEADERS } from './cannon.ts';

/**
 * Whole password + TOTP logins over plain HTTP, as a browser without JavaScript would do
 * them: authorize → password form → TOTP form → consent → callback → code at /token.
 * Each login uses its own user, so TOTP single use and lockouts never interfere. At a
 * first-party client there is no consent page.
 */
export type LoginUsers = { usernames: string[]; password: string; totpSecret: string };

const FORM = /<form method="post" action="([^"]+)"[^>]*>\s*<input type="hidden" name="_csrf" value="([^"]+)">/;

class Cookies {
  readonly #values = new Map<string, string>();
  take(res: Response) {
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq);
      const value = pair!.slice(eq + 1);
      if (value === '' || /expires=Thu, 01 Jan 1970/i.test(line)) this.#values.delete(name);
      else this.#values.set(name, value);
    }
  }
  header(): string {
    return [...this.#values].map(([k, v]) => `${k}=${v}`).join('; ');
  }
}

async function oneLogin(issuer: string, username: string, users: LoginUsers, client: Client): Promise<void> {
  const cookies = new Cookies();
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const request = async (url: string, form?: Record<string, string>) => {
    // Behind its (simulated) TLS proxy the broker writes https:// URLs; this client speaks plain HTTP to it.
    const target = new URL(url, issuer);
    target.protocol = 'http:';
    const res = await fetch(target, {
      method: form ? 'POST' : 'GET', redirect: 'manual',
      headers: { cookie: cookies.header(), ...PROXY_HEADERS, ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
      body: form ? new URLSearchParams(form).toString() : undefined,
    });
    cookies.take(res);
    return { status: res.status, location: res.headers.get('location'), html: await res.text() };
  };
  /** GET `url` and follow the broker's redirects; returns the page, or the redirect to the client. */
  const follow = async (first: { status: number; location: string | null; html: string }) => {
    let page = first;
    while (page.location && !page.location.startsWith(client.redirectUri)) page = await request(page.location);
    return page;
  };
  const submit = async (page: { html: string }, fields: Record<string, string>) => {
    const m = FORM.exec(page.html);
    if (!m) throw new Error(`no form on page: ${page.html.slice(0, 300)}`);
    return follow(await request(m[1]!, { _csrf: m[2]!, ...fields }));
  };

  const authorize = `/authorize?${new URLSearchParams({
    client_id: client.clientId, response_type: 'code', scope: 'openid', redirect_uri: client.redirectUri,
    state: randomBytes(8).toString('hex'), code_challenge: challenge, code_challenge_method: 'S256',
  })}`;
  let page = await follow(await request(authorize));
  page = await submit(page, { username, password: users.password });
  page = await submit(page, { code: await generate({ secret: users.totpSecret }) });
  // a first-party client asks no consent: the TOTP answer leads straight to it
  if (!page.location) page = await submit(page, { decision: 'allow' });
  const code = page.location && new URL(page.location).searchParams.get('code');
  if (!code) throw new Error(`login did not reach the client (${page.status}): ${page.html.slice(0, 300)}`);
  const token = await fetch(new URL('/token', issuer), {
    method: 'POST',
    headers: { ...PROXY_HEADERS, authorization: `Basic ${Buffer.from(`${client.clientId}:${client.secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: client.redirectUri, code_verifier: verifier }).toString(),
  });
  if (token.status !== 200) throw new Error(`token endpoint answered ${token.status}: ${await token.text()}`);
  await token.arrayBuffer();
}

/** Runs logins `concurrency` at a time for about `seconds` (never more than there are users). */
export async function runLogins(issuer: string, users: LoginUsers, concurrency: number, seconds: number, client: Client = BENCH_CLIENT) {
  const latencies: number[] = [];
  let next = 0;
  let failures = 0;
  const start = performance.now();
  const until = start + seconds * 1000;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < until && next < users.usernames.length) {
      const username = users.usernames[next++]!;
      const t0 = performance.now();
      try {
        await oneLogin(issuer, username, users, client);
        latencies.push(performance.now() - t0);
      } catch (err) {
        if (++failures === 1) console.error(`login failed: ${(err as Error).message}`);
      }
    }
  }));
  const elapsed = (performance.now() - start) / 1000;
  return { count: latencies.length, failures, elapsed, latencies, exhausted: next >= users.usernames.length };
}
