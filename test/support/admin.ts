import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import type { TestServer } from './server.ts';
import { Browser, type Page } from './browser.ts';
import { PASSWORD, RP_CALLBACK, beginLogin, completeLogin, relyingParty, totpCode } from './fixtures.ts';

export type ApiAnswer = { status: number; body: any };

/** Calls the admin API with a bearer token (or none). */
export async function api(server: TestServer, method: string, path: string, opts: { token?: string; body?: unknown; rawBody?: string; headers?: Record<string, string> } = {}): Promise<ApiAnswer> {
  const headers: Record<string, string> = { accept: 'application/json', ...opts.headers };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  let body: string | undefined;
  if (opts.body !== undefined || opts.rawBody !== undefined) {
    headers['content-type'] = 'application/json';
    body = opts.rawBody ?? JSON.stringify(opts.body);
  }
  const res = await fetch(`${server.issuer}/admin/api${path}`, { method, headers, body });
  const text = await res.text();
  return { status: res.status, body: res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text };
}

/** A client_credentials client and its token with the requested scope. */
export async function clientToken(server: TestServer, clientId: string, opts: { adminApi: boolean; scope?: string }): Promise<string> {
  const secret = `${clientId}-secret-0123456789`;
  await server.stepgate.clients.create({
    clientId, secret, redirectUris: [], grantTypes: ['client_credentials'], chain: 'password', settings: { name: clientId, ...(opts.adminApi && { adminApi: true }) } as never,
  });
  const rp = await relyingParty(server, { clientId, secret });
  return (await oidc.clientCredentialsGrant(rp, { scope: opts.scope ?? 'admin' })).access_token;
}

/** A user access token (authorization code flow at `client`) with `scope`. */
export async function userToken(server: TestServer, client: { clientId: string; secret: string }, user: { username: string; totpSecret: string }, scope: string, totpOffset = 0): Promise<string> {
  const rp = await relyingParty(server, client);
  const login = await beginLogin(rp, { scope });
  const last = await completeLogin(new Browser(RP_CALLBACK), login.url, user, { totpOffset });
  const tokens = await oidc.authorizationCodeGrant(rp, new URL(last.location!), { pkceCodeVerifier: login.verifier, expectedState: login.state });
  return tokens.access_token;
}

/**
 * Signs in to the console with a no-JS browser: /admin/login → the broker's own chain
 * (password, TOTP) → consent → /admin/callback. Returns the page it ends on.
 */
export async function consoleLogin(server: TestServer, user: { username: string; totpSecret: string }, opts: { totpOffset?: number; browser?: Browser } = {}): Promise<{ browser: Browser; page: Page }> {
  const browser = opts.browser ?? new Browser();
  let page = await browser.go(`${server.issuer}/admin/login`);
  for (let guard = 0; guard < 10; guard++) {
    if (page.$('input[name=password]').length) page = await browser.submit(page, { username: user.username, password: PASSWORD });
    else if (page.$('input[name=code]').length) page = await browser.submit(page, { code: await totpCode(user.totpSecret, opts.totpOffset ?? 0) });
    else if (page.$('button[value=allow]').length) page = await browser.submit(page, {}, /consent/, { name: 'decision', value: 'allow' });
    else return { browser, page };
  }
  throw new Error('console login did not finish');
}

/**
 * Authentication events are audited without holding up the login (fire and forget), so a
 * test reading them right after the fact retries for a moment before concluding.
 */
export async function eventually<T>(read: () => Promise<T>, ok: (value: T) => boolean): Promise<T> {
  let value = await read();
  for (let i = 0; i < 40 && !ok(value); i++) {
    await new Promise((r) => setTimeout(r, 50));
    value = await read();
  }
  return value;
}

/** Every table an admin change can write: a refused change must leave all of them as they were. */
export async function adminSnapshot(server: TestServer) {
  const db = server.stepgate.db;
  return {
    clients: await db.select('SELECT * FROM clients ORDER BY client_id', {}),
    users: await db.select('SELECT * FROM users ORDER BY id', {}),
    idps: await db.select('SELECT * FROM identity_providers ORDER BY name', {}),
    links: await db.select('SELECT * FROM linked_identities ORDER BY issuer, subject', {}),
    audit: await db.select('SELECT COUNT(*) AS n FROM audit_events', {}),
  };
}

/** Asserts that `call` is refused with `status` and a message matching `message`, and that nothing was written. */
export async function refusedUnchanged(server: TestServer, call: () => Promise<ApiAnswer>, status: number, message: RegExp): Promise<ApiAnswer> {
  const before = await adminSnapshot(server);
  const res = await call();
  assert.equal(res.status, status, JSON.stringify(res.body));
  assert.match(`${res.body.error_description} ${JSON.stringify(res.body.issues ?? [])}`, message);
  assert.deepEqual(await adminSnapshot(server), before, 'the database is unchanged');
  return res;
}
