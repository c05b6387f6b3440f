import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { startStepgate, freePort, type TestServer } from '../support/server.ts';
import { startUpstream, type Upstream } from '../support/upstream.ts';
import { Browser, type Page } from '../support/browser.ts';
import { addClient, addUser, beginLogin, relyingParty, totpCode, PASSWORD, RP_CALLBACK } from '../support/fixtures.ts';
import { setClock, restoreClock } from '../token-api/clock.ts';
import { simulate, type SimulationInput } from '../../server/flow/simulate.ts';
import { tokenRequest } from '../token-api/support.ts';

const L1 = 'urn:stepgate:loa:1';
const L2 = 'urn:stepgate:loa:2';
const SINGLE = 'urn:stepgate:acr:single-step';
const MULTI = 'urn:stepgate:acr:multi-step';

/**
 * The policy engine end to end: openid-client as the relying party, oidc-provider
 * instances as upstream IdPs, one broker. Each scenario records which pages the person
 * was shown, so "asks only TOTP" is checked page by page, then the tokens' acr and amr.
 */
describe('policy: levels, conditions, freshness, upstream amr and refresh under the current chain', function () {
  this.timeout(90_000);
  let server: TestServer;
  let trusted: Upstream;
  let untrusted: Upstream;
  const rps = new Map<string, oidc.Configuration>();
  const corpUser = { username: 'carol.corp', password: 'corp-pass', sub: 'corp-sub-carol' };

  const chains: Record<string, string> = {
    pay: JSON.stringify({ steps: [{ options: ['password'] }, { options: ['totp'], level: 2 }], levels: { [L1]: 1, [L2]: 2 }, defaultLevel: 1 }),
    bank: 'password,totp',
    blog: 'password',
    office: JSON.stringify({ steps: [{ options: ['password'] }, { options: ['totp'], unless: { network: ['10.0.0.0/8'] } }] }),
    admins: JSON.stringify({ steps: [{ options: ['password'] }, { options: ['totp'], when: { role: ['admin'] } }] }),
    'via-trusted': 'corp-trusted,totp',
    'via-untrusted': 'corp-untrusted,totp',
    app: 'password',
    remembering: JSON.stringify({ steps: [{ options: ['password'] }, { options: ['totp'], remember: 30 * 86400 }] }),
    levelled: JSON.stringify({ steps: [{ options: ['password'] }, { options: ['totp'], level: 2 }], levels: { [L1]: 1, [L2]: 2 } }),
  };

  before(async () => {
    const port = await freePort();
    const broker = `http://localhost:${port}`;
    // Both upstreams report a password and an OTP; only one is trusted to say so.
    trusted = await startUpstream({ host: '127.0.0.3', users: [corpUser], redirectUris: [`${broker}/federation/corp-trusted/callback`], amr: ['pwd', 'otp'] });
    untrusted = await startUpstream({ host: '127.0.0.4', users: [corpUser], redirectUris: [`${broker}/federation/corp-untrusted/callback`], amr: ['pwd', 'otp'] });
    server = await startStepgate({ port, overrides: { trustedProxies: '1' } });
    const s = server.stepgate;
    for (const [name, up] of [['corp-trusted', trusted], ['corp-untrusted', untrusted]] as const) {
      await s.idps.add({ name, issuer: up.issuer, clientId: up.clientId, clientSecret: up.clientSecret, scopes: ['openid'], displayName: name, claimMapping: {}, jit: false, allowPrivateNetwork: true });
    }
    await s.idps.setAmrTrust('corp-trusted', true, {});
    const carol = await addUser(server, 'carol');
    await s.links.link({ idpName: 'corp-trusted', issuer: trusted.issuer, subject: corpUser.sub }, carol.id);
    await s.links.link({ idpName: 'corp-untrusted', issuer: untrusted.issuer, subject: corpUser.sub }, carol.id);
    for (const [clientId, chain] of Object.entries(chains)) rps.set(clientId, await relyingParty(server, await addClient(server, clientId, chain)));
    await addClient(server, 'admins-api', chains.admins!, { grants: ['password'] });
  });
  after(async () => {
    restoreClock();
    await server?.stop();
    await trusted?.stop();
    await untrusted?.stop();
  });

  /** Signs in as far as it goes, answering each page; returns the last page and what was asked. */
  async function walk(browser: Browser, start: string, user: { username: string; totpSecret: string }, opts: { remember?: boolean } = {}) {
    const asked: string[] = [];
    let page: Page = await browser.go(start);
    for (let guard = 0; guard < 10; guard++) {
      if (page.location?.startsWith(RP_CALLBACK) || page.status >= 400) return { page, asked };
      if (page.$('form#upstream-login').length) {
        asked.push('upstream');
        page = await browser.submit(page, { ...corpUser }, /login$/, { name: 'action', value: 'login' });
      } else if (page.$('input[name=password]').length) {
        asked.push('password');
        page = await browser.submit(page, { username: user.username, password: PASSWORD });
      } else if (page.$('input[name=code]').length) {
        asked.push(page.$('input[name=remember_device]').length ? 'totp (remember offered)' : 'totp');
        page = await browser.submit(page, { code: await totpCode(user.totpSecret), ...(opts.remember ? { remember_device: '1' } : {}) });
      } else if (page.$('button[value=allow]').length) {
        page = await browser.submit(page, {}, /consent/, { name: 'decision', value: 'allow' });
      } else {
        throw new Error(`unexpected page (${page.status}) at ${page.url}:\n${page.html.slice(0, 1500)}`);
      }
    }
    throw new Error('login did not finish');
  }

  /** One login at `clientId` with `extra` authorization parameters: what was asked and the tokens. */
  async function signIn(browser: Browser, clientId: string, user: { username: string; totpSecret: string }, extra: Record<string, string> = {}, opts: { remember?: boolean } = {}) {
    const login = await beginLogin(rps.get(clientId)!, extra);
    const { page, asked } = await walk(browser, login.url.href, user, opts);
    assert.ok(page.location?.startsWith(RP_CALLBACK), `reached the application (${page.status} ${page.$('body').text().slice(0, 300)})`);
    const tokens = await oidc.authorizationCodeGrant(rps.get(clientId)!, new URL(page.location!), { pkceCodeVerifier: login.verifier, expectedState: login.state });
    const claims = tokens.claims()!;
    return { asked, tokens, claims, amr: [...(claims.amr as string[])].sort() };
  }

  it('step-up: a password-only login, then acr_values=loa:2 from the same browser asks only TOTP', async () => {
    const user = await addUser(server, 'stepper');
    const browser = new Browser(RP_CALLBACK);
    const first = await signIn(browser, 'pay', user);
    assert.deepEqual(first.asked, ['password']);
    assert.equal(first.claims.acr, L1);
    assert.deepEqual(first.amr, ['pwd']);
    const up = await signIn(browser, 'pay', user, { acr_values: L2 });
    assert.deepEqual(up.asked, ['totp']);
    assert.equal(up.claims.acr, L2);
    assert.deepEqual(up.amr, ['mfa', 'otp', 'pwd']);
  });

  it('single sign-on gives each client its own acr: a password login at a level-less client, then the payments client says loa:1 without a page', async () => {
    const user = await addUser(server, 'roamer');
    const browser = new Browser(RP_CALLBACK);
    assert.equal((await signIn(browser, 'blog', user)).claims.acr, SINGLE);
    const reused = await signIn(browser, 'pay', user);
    assert.deepEqual(reused.asked, []);
    assert.equal(reused.claims.acr, L1);
    assert.deepEqual(reused.amr, ['pwd']);
  });

  it('an essential acr raises the level; one the application cannot reach ends in unmet_authentication_requirements', async () => {
    const user = await addUser(server, 'essential');
    const browser = new Browser(RP_CALLBACK);
    const met = await signIn(browser, 'pay', user, { claims: JSON.stringify({ id_token: { acr: { essential: true, value: L2 } } }) });
    assert.deepEqual(met.asked, ['password', 'totp']);
    assert.equal(met.claims.acr, L2);
    const login = await beginLogin(rps.get('pay')!, { claims: JSON.stringify({ id_token: { acr: { essential: true, value: 'urn:example:loa:9' } } }) });
    const { page, asked } = await walk(new Browser(RP_CALLBACK), login.url.href, user);
    assert.deepEqual(asked, [], 'nothing is asked for a level that cannot be had');
    assert.equal(new URL(page.location!).searchParams.get('error'), 'unmet_authentication_requirements');
  });

  it('max_age applies to every reused step: a TOTP from hours ago is asked again after a fresh password-only login elsewhere', async () => {
    const user = await addUser(server, 'ageing');
    const browser = new Browser(RP_CALLBACK);
    try {
      assert.deepEqual((await signIn(browser, 'bank', user)).asked, ['password', 'totp']);
      setClock(Math.floor(Date.now() / 1000) + 2 * 3600);
      assert.deepEqual((await signIn(browser, 'blog', user, { prompt: 'login' })).asked, ['password']);
      // Without max_age the two-hour-old TOTP is still within single sign-on's freshness.
      assert.deepEqual((await signIn(browser, 'bank', user)).asked, []);
      const strict = await signIn(browser, 'bank', user, { max_age: '60' });
      assert.deepEqual(strict.asked, ['totp'], 'the fresh password is reused, the stale TOTP asked');
      assert.ok(Math.floor(Date.now() / 1000) - (strict.claims.auth_time as number) <= 60, 'auth_time is within max_age');
    } finally {
      restoreClock();
    }
  });

  it('an id_token_hint for another user runs the chain from the start, or answers login_required with prompt=none', async () => {
    const alice = await addUser(server, 'hint-alice');
    const bob = await addUser(server, 'hint-bob');
    const bobs = await signIn(new Browser(RP_CALLBACK), 'bank', bob);
    const browser = new Browser(RP_CALLBACK);
    await signIn(browser, 'bank', alice);
    const hint = bobs.tokens.id_token!;
    const page = await browser.go((await beginLogin(rps.get('bank')!, { id_token_hint: hint })).url.href);
    assert.equal(page.location, undefined, 'no code for Alice');
    assert.equal(page.$('input[name=password]').length, 1, 'the chain starts again at the password');
    const none = await browser.go((await beginLogin(rps.get('bank')!, { id_token_hint: hint, prompt: 'none' })).url.href);
    assert.equal(new URL(none.location!).searchParams.get('error'), 'login_required');
    // Alice's own hint still signs her in silently.
    const own = await signIn(browser, 'bank', alice, { id_token_hint: (await signIn(browser, 'bank', alice)).tokens.id_token! });
    assert.deepEqual(own.asked, []);
  });

  it('network condition: TOTP is skipped inside the office network (X-Forwarded-For from a trusted proxy), asked outside', async () => {
    const user = await addUser(server, 'commuter');
    const inside = await signIn(new Browser(RP_CALLBACK, { 'x-forwarded-for': '10.20.30.40' }), 'office', user);
    assert.deepEqual(inside.asked, ['password']);
    assert.deepEqual(inside.amr, ['pwd'], 'a skipped step adds nothing to amr');
    assert.equal(inside.claims.acr, SINGLE);
    const outside = await signIn(new Browser(RP_CALLBACK, { 'x-forwarded-for': '192.0.2.7' }), 'office', user);
    assert.deepEqual(outside.asked, ['password', 'totp']);
    assert.equal(outside.claims.acr, MULTI);
  });

  it('role condition: read once the user is identified', async () => {
    const admin = await addUser(server, 'role-admin', { roles: ['admin'] });
    const staff = await addUser(server, 'role-staff', { roles: ['staff'] });
    assert.deepEqual((await signIn(new Browser(RP_CALLBACK), 'admins', admin)).asked, ['password', 'totp']);
    assert.deepEqual((await signIn(new Browser(RP_CALLBACK), 'admins', staff)).asked, ['password']);
  });

  it('the password grant runs the same plan: the role condition is read once the password names the user', async () => {
    const admin = await addUser(server, 'grant-admin', { roles: ['admin'] });
    await addUser(server, 'grant-staff', { roles: ['staff'] });
    const grant = (username: string, extra: Record<string, string> = {}) => tokenRequest(server, 'admins-api', { grant_type: 'password', username, password: PASSWORD, scope: 'openid', ...extra });
    const staff = await grant('grant-staff');
    assert.equal(staff.status, 200, JSON.stringify(staff.body));
    const missing = await grant('grant-admin');
    assert.equal(missing.status, 400);
    assert.match(String(missing.body.error_description), /TOTP/);
    const ok = await grant('grant-admin', { totp: await totpCode(admin.totpSecret) });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
  });

  it('a trusted upstream reporting otp satisfies the TOTP step; an untrusted one does not, and yields no mfa', async () => {
    const carol = { username: 'carol', totpSecret: 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP' };
    const viaTrusted = await signIn(new Browser(RP_CALLBACK), 'via-trusted', carol);
    assert.deepEqual(viaTrusted.asked, ['upstream']);
    assert.deepEqual(viaTrusted.amr, ['fed', 'mfa', 'otp', 'pwd']);
    assert.equal(viaTrusted.claims.acr, MULTI);
    const viaUntrusted = await signIn(new Browser(RP_CALLBACK), 'via-untrusted', carol);
    assert.deepEqual(viaUntrusted.asked, ['upstream', 'totp']);
    assert.deepEqual(viaUntrusted.amr, ['fed', 'otp'], 'the upstream says nothing; fed + otp is one factor category');
    assert.equal(viaUntrusted.claims.acr, SINGLE);
  });

  it('a refresh token is refused (invalid_grant, sign in again) once the chain is stronger than its login', async () => {
    const user = await addUser(server, 'refresher');
    const plain = await signIn(new Browser(RP_CALLBACK), 'app', user);
    const refreshed = await oidc.refreshTokenGrant(rps.get('app')!, plain.tokens.refresh_token!);
    assert.ok(refreshed.access_token, 'refresh works while the chain is unchanged');
    await server.stepgate.clients.setChain('app', 'password,totp');
    await assert.rejects(oidc.refreshTokenGrant(rps.get('app')!, refreshed.refresh_token!),
      (err: oidc.ResponseBodyError) => err.error === 'invalid_grant' && /sign in again/.test(err.error_description ?? ''));

    // A step the browser's network let the login skip does not bar a refresh from the relying party's server.
    const fromOffice = await signIn(new Browser(RP_CALLBACK, { 'x-forwarded-for': '10.9.9.9' }), 'office', user);
    assert.deepEqual(fromOffice.asked, ['password']);
    assert.ok((await oidc.refreshTokenGrant(rps.get('office')!, fromOffice.tokens.refresh_token!)).access_token, 'refreshed from outside the office network');

    const levelled = await signIn(new Browser(RP_CALLBACK), 'levelled', user);
    assert.equal(levelled.claims.acr, L1);
    await server.stepgate.clients.setChain('levelled', JSON.stringify({ ...JSON.parse(chains.levelled!), defaultLevel: 2 }));
    await assert.rejects(oidc.refreshTokenGrant(rps.get('levelled')!, levelled.tokens.refresh_token!),
      (err: oidc.ResponseBodyError) => err.error === 'invalid_grant' && /level 1.*level 2.*sign in again/.test(err.error_description ?? ''));
  });

  it('a refresh is checked against the user\'s roles as they are now: a role that brings a step the login did not take refuses it', async () => {
    const user = await addUser(server, 'promoted', { roles: ['staff'] });
    const login = await signIn(new Browser(RP_CALLBACK), 'admins', user);
    assert.deepEqual(login.asked, ['password']);
    // twice: the second is decided from what the first found (the same chain, login and roles)
    const once = await oidc.refreshTokenGrant(rps.get('admins')!, login.tokens.refresh_token!);
    const twice = await oidc.refreshTokenGrant(rps.get('admins')!, once.refresh_token!);
    await server.stepgate.users.update(user.id, { roles: ['staff', 'admin'] });
    await assert.rejects(oidc.refreshTokenGrant(rps.get('admins')!, twice.refresh_token!),
      (err: oidc.ResponseBodyError) => err.error === 'invalid_grant' && /TOTP.*sign in again/.test(err.error_description ?? ''));
  });

  it('remember this device: the next login in this browser skips TOTP for that user only, until revoked', async () => {
    const user = await addUser(server, 'rememberer');
    const other = await addUser(server, 'other-user');
    const browser = new Browser(RP_CALLBACK, { 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0' });
    const first = await signIn(browser, 'remembering', user, {}, { remember: true });
    assert.deepEqual(first.asked, ['password', 'totp (remember offered)']);
    const devices = server.stepgate.devices;
    const [device] = await devices.list(user.id);
    assert.equal(device?.label, 'Firefox on Linux');
    const cookie = (await browser.jar.getCookies(`${server.issuer}/interaction/x`)).find((c) => c.key === 'stepgate.device');
    assert.ok(cookie, 'the browser holds a device id');
    const rows = await server.stepgate.db.select<{ device_hash: string }>('SELECT device_hash FROM remembered_devices', {});
    assert.ok(rows.every((r) => r.device_hash !== cookie!.value), 'only a hash is stored');

    const again = await signIn(browser, 'remembering', user, { prompt: 'login' });
    assert.deepEqual(again.asked, ['password'], 'the remembered browser skips TOTP');
    assert.deepEqual(again.amr, ['pwd'], 'a step skipped for the device adds nothing to amr');
    // Another person on this browser (its device cookie, without the first one's session).
    const shared = new Browser(RP_CALLBACK);
    for (const c of await browser.jar.getCookies(`${server.issuer}/interaction/x`)) {
      if (c.key.startsWith('stepgate.device')) await shared.jar.setCookie(c.toString(), server.issuer);
    }
    assert.equal((await shared.jar.getCookies(`${server.issuer}/interaction/x`)).filter((c) => c.key.startsWith('stepgate.device')).length, 2, 'the device cookie and its signature are shared');
    assert.deepEqual((await signIn(shared, 'remembering', other)).asked, ['password', 'totp (remember offered)'], 'another user of this browser is asked');

    assert.equal(await devices.revoke(user.id, device!.id), true);
    try {
      setClock(Math.floor(Date.now() / 1000) + 90); // a new TOTP period: the first code cannot be replayed
      assert.deepEqual((await signIn(browser, 'remembering', user, { prompt: 'login' })).asked, ['password', 'totp (remember offered)'], 'revoked: asked again');
    } finally {
      restoreClock();
    }
  });

  describe('the simulator says what a real login then asks', () => {
    const simulated = async (clientId: string, input: SimulationInput) => {
      const s = server.stepgate;
      const sim = await simulate({ runner: s.runner, chainOf: async (id) => (await s.clients.get(id))?.chain, userByName: (u) => s.users.byUsername(u), hasSecondFactor: (id) => s.credentials.hasSecondFactor(id) }, clientId, input);
      return sim.steps.filter((step) => step.outcome === 'ask').map((step) => step.usable![0]!);
    };
    const asTyped = (asked: string[]) => asked.map((a) => a.replace(' (remember offered)', '').replace('upstream', 'corp-trusted'));

    const scenarios: { name: string; clientId: string; roles?: string[]; input?: Omit<SimulationInput, 'username'>; headers?: Record<string, string>; extra?: Record<string, string>; before?: string }[] = [
      { name: 'default level', clientId: 'pay' },
      { name: 'step-up after a password session', clientId: 'pay', before: 'pay', input: { acr: L2, session: 'password@-0s' }, extra: { acr_values: L2 } },
      { name: 'inside the office', clientId: 'office', input: { address: '10.1.1.1' }, headers: { 'x-forwarded-for': '10.1.1.1' } },
      { name: 'outside the office', clientId: 'office', input: { address: '198.51.100.1' }, headers: { 'x-forwarded-for': '198.51.100.1' } },
      { name: 'an admin', clientId: 'admins', roles: ['admin'] },
      { name: 'not an admin', clientId: 'admins', roles: [] },
    ];
    for (const [i, sc] of scenarios.entries()) {
      it(sc.name, async () => {
        const user = await addUser(server, `sim-${i}`, { roles: sc.roles ?? [] });
        const browser = new Browser(RP_CALLBACK, sc.headers ?? {});
        if (sc.before) await signIn(browser, sc.before, user);
        const predicted = await simulated(sc.clientId, { username: user.username, ...sc.input });
        const real = await signIn(browser, sc.clientId, user, sc.extra ?? {});
        assert.deepEqual(asTyped(real.asked), predicted);
      });
    }
  });
});
