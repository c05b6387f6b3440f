import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { Browser, type Page } from '../support/browser.ts';
import { PASSWORD, RP_CALLBACK, totpCode } from '../support/fixtures.ts';
import { dropDatabase, freePort, onPostgres } from '../support/server.ts';
import { spawnStepgate, type ChildStepgate } from '../support/process.ts';
import { seedClient, seedUser, sharedDatabase } from '../support/seed.ts';

/**
 * A browser that sends every request for the broker to one chosen process: the processes
 * share the issuer (http://localhost:<first port>), and the login's cookies are host-only,
 * so switching `target` mid-login moves the same browser to the other process.
 */
class SwitchingBrowser extends Browser {
  target: number;
  constructor(target: number) {
    super(RP_CALLBACK);
    this.target = target;
  }
  override request(url: string, init?: Parameters<Browser['request']>[1]): Promise<Page> {
    const u = new URL(url);
    if (u.hostname === 'localhost') u.port = String(this.target);
    return super.request(u.href, init);
  }
}

const invalidGrant = (err: unknown) => (err as { error?: string }).error === 'invalid_grant';

describe(`two stepgate processes on one ${onPostgres ? 'PostgreSQL' : 'SQLite'} database`, function () {
  this.timeout(60_000);
  let shared: Awaited<ReturnType<typeof sharedDatabase>>;
  let first: ChildStepgate;
  let second: ChildStepgate;
  let issuer: string;
  let client: { clientId: string; secret: string };
  let alice: Awaited<ReturnType<typeof seedUser>>;
  let carol: Awaited<ReturnType<typeof seedUser>>;

  before(async () => {
    shared = await sharedDatabase();
    client = await seedClient(shared.services, 'webapp', 'password,totp');
    alice = await seedUser(shared.services, 'alice');
    await seedUser(shared.services, 'bob');
    carol = await seedUser(shared.services, 'carol');
    const [p1, p2] = [await freePort(), await freePort()];
    issuer = `http://localhost:${p1}`;
    // Started together: they race to create the signing keys, and must end up with one set.
    const start = (port: number) => spawnStepgate({ ...shared.env, PORT: String(port), ISSUER: issuer });
    [first, second] = await Promise.all([start(p1), start(p2)]);
  });
  after(async () => {
    await Promise.all([first?.stop(), second?.stop()]);
    await shared?.services.db.close();
    if (onPostgres && shared) await dropDatabase(shared.databaseUrl);
  });

  /** openid-client for our client, with the token and introspection endpoints of one process. */
  async function rpAt(process: ChildStepgate) {
    const discovered = await oidc.discovery(new URL(issuer), client.clientId, { client_secret: client.secret }, oidc.ClientSecretBasic(client.secret), { execute: [oidc.allowInsecureRequests] });
    const base = `http://localhost:${process.port}`;
    const { supportsPKCE: _, ...metadata } = discovered.serverMetadata();
    const rp = new oidc.Configuration({ ...metadata, token_endpoint: `${base}/token`, introspection_endpoint: `${base}/introspect` },
      client.clientId, { client_secret: client.secret }, oidc.ClientSecretBasic(client.secret));
    oidc.allowInsecureRequests(rp);
    return rp;
  }

  /** A whole login (password, TOTP, consent when asked) at one process; the callback URL and the PKCE verifier. */
  async function signInAt(at: ChildStepgate, rp: oidc.Configuration, username: string, totpSecret: string, totpStep = 0) {
    const verifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(rp, { redirect_uri: RP_CALLBACK, scope: 'openid', code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' });
    const browser = new SwitchingBrowser(at.port);
    let page = await browser.go(url.href);
    page = await browser.submit(page, { username, password: PASSWORD });
    page = await browser.submit(page, { code: await totpCode(totpSecret, totpStep) });
    if (page.$('button[value=allow]').length) page = await browser.submit(page, {}, /consent/, { name: 'decision', value: 'allow' });
    assert.ok(page.location?.startsWith(RP_CALLBACK), `redirected to the client, got ${page.status}`);
    return { callback: new URL(page.location!), verifier };
  }

  it('both publish the same signing keys', async () => {
    const [a, b] = await Promise.all([first, second].map(async (p) => (await fetch(`http://localhost:${p.port}/jwks`)).json()));
    assert.deepEqual(a, b);
  });

  it('a login started on one (password) finishes on the other (TOTP, consent, code); the code is redeemed at the first, refreshed at the second', async () => {
    const rp1 = await rpAt(first);
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const url = oidc.buildAuthorizationUrl(rp1, {
      redirect_uri: RP_CALLBACK, scope: 'openid profile', state,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    });
    const browser = new SwitchingBrowser(first.port);
    let page = await browser.go(url.href);
    assert.equal(new URL(page.url).port, String(first.port));
    page = await browser.submit(page, { username: 'alice', password: PASSWORD });
    assert.equal(page.$('input[name=code]').length, 1, 'the first process asks for the TOTP code');

    browser.target = second.port;
    page = await browser.go(page.url);
    assert.equal(new URL(page.url).port, String(second.port));
    assert.equal(page.$('input[name=code]').length, 1, 'the second process knows this login is at the TOTP step');
    page = await browser.submit(page, { code: await totpCode(alice.totpSecret) });
    assert.equal(page.$('button[value=allow]').length, 1, 'consent, on the second process');
    page = await browser.submit(page, {}, /consent/, { name: 'decision', value: 'allow' });
    assert.ok(page.location?.startsWith(RP_CALLBACK), `redirected to the client, got ${page.status} ${page.location}`);

    const tokens = await oidc.authorizationCodeGrant(rp1, new URL(page.location!), { pkceCodeVerifier: verifier, expectedState: state });
    assert.equal(tokens.claims()!.sub, alice.id);
    assert.deepEqual([...(tokens.claims()!.amr as string[])].sort(), ['mfa', 'otp', 'pwd']);

    const rp2 = await rpAt(second);
    const refreshed = await oidc.refreshTokenGrant(rp2, tokens.refresh_token!);
    assert.equal((await oidc.tokenIntrospection(rp1, refreshed.access_token)).active, true, 'a token from the second is active at the first');
    await assert.rejects(oidc.refreshTokenGrant(rp1, tokens.refresh_token!), invalidGrant, 'the rotated refresh token is spent on both');
  });

  it('a code redeemed at one process cannot be redeemed again at the other', async () => {
    const rp1 = await rpAt(first);
    const rp2 = await rpAt(second);
    const { callback, verifier } = await signInAt(second, rp2, 'alice', alice.totpSecret, 1);
    const tokens = await oidc.authorizationCodeGrant(rp2, callback, { pkceCodeVerifier: verifier, expectedState: oidc.skipStateCheck });
    await assert.rejects(oidc.authorizationCodeGrant(rp1, callback, { pkceCodeVerifier: verifier, expectedState: oidc.skipStateCheck }), invalidGrant);
    assert.equal((await oidc.tokenIntrospection(rp1, tokens.access_token)).active, false, 'the replay revoked what the code had issued');
  });

  it('a client edited in another process applies to the very next request of each (cached clients are invalidated)', async () => {
    const secret = 'machine-secret-0123456789';
    await shared.services.clients.create({ clientId: 'machine', secret, redirectUris: [], chain: 'password', grantTypes: ['client_credentials'], settings: {} });
    const token = (p: ChildStepgate) => fetch(`http://localhost:${p.port}/token`, {
      method: 'POST', body: new URLSearchParams({ grant_type: 'client_credentials' }),
      headers: { authorization: `Basic ${Buffer.from(`machine:${secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    });
    const statuses = async () => Promise.all([first, second].map(async (p) => (await token(p)).status));
    assert.deepEqual(await statuses(), [200, 200], 'both serve the client (and now hold it in memory)');
    await shared.services.clients.update('machine', { grantTypes: ['authorization_code'], settings: {} });
    assert.deepEqual(await statuses(), [400, 400], 'neither still allows the grant the edit removed');
    await shared.services.clients.update('machine', { grantTypes: ['client_credentials'], settings: {} });
    assert.deepEqual(await statuses(), [200, 200]);
    await shared.services.clients.remove('machine');
    assert.deepEqual(await statuses(), [401, 401], 'a removed client is gone at once');
  });

  it('a user disabled in another process is refused at the very next request of each (cached users are invalidated)', async () => {
    const rp = await rpAt(first);
    const { callback, verifier } = await signInAt(first, rp, 'carol', carol.totpSecret);
    const tokens = await oidc.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: verifier });
    // /userinfo looks the account up on every call: a disabled account is no account (401)
    const userinfo = async () => Promise.all([first, second].map(async (p) => (await fetch(`http://localhost:${p.port}/userinfo`, { headers: { authorization: `Bearer ${tokens.access_token}` } })).status));
    assert.deepEqual(await userinfo(), [200, 200], 'both know carol (and now hold her in memory)');
    // written straight to the database by another connection: no token is revoked, only the account changes
    await shared.services.users.update(carol.id, { disabled: true });
    assert.deepEqual(await userinfo(), [401, 401], 'neither serves a disabled account from memory');
    await shared.services.users.update(carol.id, { disabled: false });
    assert.deepEqual(await userinfo(), [200, 200]);
  });

  it('a lockout imposed on one process holds on the other', async () => {
    const rp = await rpAt(first);
    const url = oidc.buildAuthorizationUrl(rp, { redirect_uri: RP_CALLBACK, scope: 'openid', code_challenge: await oidc.calculatePKCECodeChallenge(oidc.randomPKCECodeVerifier()), code_challenge_method: 'S256' });
    const browser = new SwitchingBrowser(first.port);
    let page = await browser.go(url.href);
    for (let i = 0; i < 5; i++) {
      page = await browser.submit(page, { username: 'bob', password: 'wrong password' });
      assert.match(page.$('.error').text(), /do not match/);
    }
    page = await browser.submit(page, { username: 'bob', password: 'wrong password' });
    assert.match(page.$('.error').text(), /Too many attempts/, 'locked on the first');

    browser.target = second.port;
    page = await browser.go(url.href);
    assert.equal(new URL(page.url).port, String(second.port));
    page = await browser.submit(page, { username: 'bob', password: PASSWORD });
    assert.match(page.$('.error').text(), /Too many attempts/, 'still locked on the second, even with the right password');
    assert.equal(page.$('input[name=code]').length, 0);
  });
});
