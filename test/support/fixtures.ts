import * as oidc from 'openid-client';
import { generate } from 'otplib';
import type { TestServer } from './server.ts';
import { Browser, type Page } from './browser.ts';

export const RP_CALLBACK = 'http://127.0.0.1:9/callback';
export const PASSWORD = 'correct horse battery staple';

/** A user with a password and, unless `totp: false`, an enrolled TOTP secret. */
export async function addUser(server: TestServer, username: string, opts: { totp?: boolean; roles?: string[] } = {}) {
  const s = server.stepgate;
  const user = await s.users.create({ username, passwordHash: await s.passwords.hash(PASSWORD), email: `${username}@example.org`, roles: opts.roles ?? [] });
  const secret = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP'.slice(0, 32);
  if (opts.totp !== false) await s.credentials.setTotp(user.id, secret);
  return { ...user, totpSecret: secret };
}

/** The TOTP code for `secret` at `offsetSteps` periods from now. */
export function totpCode(secret: string, offsetSteps = 0): Promise<string> {
  return generate({ secret, epoch: Math.floor(Date.now() / 1000) + offsetSteps * 30 });
}

export async function addClient(server: TestServer, clientId: string, chain: string, opts: { secret?: string | null; grants?: string[] } = {}) {
  const secret = opts.secret === undefined ? `${clientId}-secret-0123456789` : opts.secret;
  await server.stepgate.clients.create({
    clientId, secret, redirectUris: [RP_CALLBACK], chain,
    grantTypes: opts.grants ?? ['authorization_code', 'refresh_token'], settings: { name: `App ${clientId}` },
  });
  return { clientId, secret };
}

/** openid-client configured for one of our clients (the relying party of the tests). */
export async function relyingParty(server: TestServer, client: { clientId: string; secret: string | null }) {
  const auth = client.secret === null ? oidc.None() : oidc.ClientSecretBasic(client.secret);
  return oidc.discovery(new URL(server.issuer), client.clientId, client.secret === null ? undefined : { client_secret: client.secret }, auth, { execute: [oidc.allowInsecureRequests] });
}

/** Starts an authorization request with PKCE; returns what the callback needs to finish it. */
export async function beginLogin(rp: oidc.Configuration, extra: Record<string, string> = {}) {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const url = oidc.buildAuthorizationUrl(rp, {
    redirect_uri: RP_CALLBACK, scope: 'openid profile email', state,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', ...extra,
  });
  return { url, verifier, state };
}

/** Drives the browser through password, TOTP and consent; returns the final redirect to the RP. */
export async function completeLogin(browser: Browser, startUrl: URL, user: { username: string; totpSecret: string }, opts: { totpOffset?: number } = {}): Promise<Page> {
  let page = await browser.go(startUrl.href);
  for (let guard = 0; guard < 10; guard++) {
    if (page.location?.startsWith(RP_CALLBACK)) return page;
    if (page.status >= 400) throw new Error(`login failed (${page.status}): ${page.$('.error, .message').text()}`);
    if (page.$('input[name=password]').length) page = await browser.submit(page, { username: user.username, password: PASSWORD });
    else if (page.$('input[name=code]').length) page = await browser.submit(page, { code: await totpCode(user.totpSecret, opts.totpOffset ?? 0) });
    else if (page.$('button[value=allow]').length) page = await browser.submit(page, {}, /consent/, { name: 'decision', value: 'allow' });
    else throw new Error(`unexpected page (${page.status}):\n${page.html.slice(0, 3000)}`);
  }
  throw new Error('login did not finish');
}
