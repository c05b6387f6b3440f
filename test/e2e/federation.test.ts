import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import * as oidc from 'openid-client';
import { startStepgate, freePort, type TestServer } from '../support/server.ts';
import { startUpstream, type Upstream } from '../support/upstream.ts';
import { Browser } from '../support/browser.ts';
import { addClient, addUser, beginLogin, relyingParty, RP_CALLBACK } from '../support/fixtures.ts';
import { federatedLogin, upstreamCallbackUrl, authorizationRequestUpstream } from '../support/federation.ts';

/**
 * Federated steps against real upstreams: two oidc-provider instances on loopback
 * ("Yahoo" on 127.0.0.1, another provider on 127.0.0.2), each with its own users and login
 * form, driven over HTTP; openid-client as the relying party.
 */
describe('federation: OpenID Connect providers as chain steps', function () {
  this.timeout(60_000);
  let server: TestServer;
  let yahoo: Upstream;
  let other: Upstream;
  // Accepts connections and never answers: the broker must give up on its own.
  let silent: Server;
  const silentSockets = new Set<Socket>();
  let alice: Awaited<ReturnType<typeof addUser>>;
  const rps = new Map<string, oidc.Configuration>();

  const yahooAlice = { username: 'alice.y', password: 'yahoo-pass-alice', sub: 'yahoo-sub-alice' };
  const yahooMallory = { username: 'mallory.y', password: 'yahoo-pass-mallory', sub: 'yahoo-sub-mallory', email: 'alice@example.org' };
  const yahooRacer = { username: 'racer', password: 'yahoo-pass-racer', sub: 'yahoo-sub-racer' };
  const yahooNewcomer = { username: 'newcomer', password: 'yahoo-pass-new', sub: 'yahoo-sub-newcomer' };
  // The other provider has a user with the same `sub` as Alice's at Yahoo: only issuer + sub identify.
  const otherAlice = { username: 'alice.o', password: 'other-pass', sub: 'yahoo-sub-alice' };

  before(async () => {
    const port = await freePort();
    const broker = `http://localhost:${port}`;
    const callbacks = (...names: string[]) => names.map((n) => `${broker}/federation/${n}/callback`);
    yahoo = await startUpstream({ host: '127.0.0.1', users: [yahooAlice, yahooMallory, yahooNewcomer, yahooRacer], redirectUris: callbacks('yahoo', 'yahoo-jit'), acr: 'urn:upstream:loa:1' });
    other = await startUpstream({ host: '127.0.0.2', users: [otherAlice], redirectUris: callbacks('other') });
    silent = createServer((socket) => silentSockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    server = await startStepgate({ port, overrides: { federation: { timeoutSeconds: 3, discoveryCacheSeconds: 600 } } });
    const s = server.stepgate;
    const idp = (name: string, up: Upstream, jit: boolean) => ({
      name, issuer: up.issuer, clientId: up.clientId, clientSecret: up.clientSecret, scopes: ['openid', 'profile', 'email'],
      displayName: name === 'other' ? 'Other' : 'Yahoo', claimMapping: {}, jit,
      // the stand-in upstreams are on loopback
      allowPrivateNetwork: true,
    });
    await s.idps.add(idp('yahoo', yahoo, false));
    await s.idps.add(idp('yahoo-jit', yahoo, true));
    await s.idps.add(idp('other', other, false));
    const down = await freePort();
    await s.idps.add({ ...idp('down', yahoo, false), issuer: `http://127.0.0.1:${down}`, displayName: 'Down' });
    await s.idps.add({ ...idp('silent', yahoo, false), issuer: `http://127.0.0.1:${(silent.address() as { port: number }).port}`, displayName: 'Silent' });

    alice = await addUser(server, 'alice', { totp: false });
    await s.links.link({ idpName: 'yahoo', issuer: yahoo.issuer, subject: yahooAlice.sub }, alice.id);
    // Alice is linked at the other provider too, but as a different subject: logging in
    // there with Yahoo's subject value must still fail.
    await s.links.link({ idpName: 'other', issuer: other.issuer, subject: 'alice-at-other' }, alice.id);
    for (const [clientId, chain] of [['seed000', 'password,yahoo'], ['yahoo-only', 'yahoo'], ['jit-app', 'yahoo-jit'], ['other-app', 'password,other'], ['down-app', 'down|password'], ['yahoo-then-password', 'yahoo,password'], ['silent-app', 'silent']] as [string, string][]) {
      rps.set(clientId, await relyingParty(server, await addClient(server, clientId, chain)));
    }
  });
  after(async () => {
    await server?.stop();
    await yahoo?.stop();
    await other?.stop();
    for (const socket of silentSockets) socket.destroy();
    silent?.close();
  });

  async function start(clientId: string) {
    const login = await beginLogin(rps.get(clientId)!);
    return { ...login, browser: new Browser(RP_CALLBACK) };
  }

  async function redeem(clientId: string, login: { verifier: string; state: string }, location: string) {
    return oidc.authorizationCodeGrant(rps.get(clientId)!, new URL(location), { pkceCodeVerifier: login.verifier, expectedState: login.state });
  }

  function assertCleanFailure(page: { status: number; location?: string; html: string }, message: RegExp) {
    assert.ok(page.status >= 400 && page.status < 500, `a 4xx page, got ${page.status}`);
    assert.equal(page.location, undefined, 'no redirect, so no code');
    assert.match(page.html, message);
    assert.doesNotMatch(page.html, /at .*\.(js|ts):\d+/, 'no stack trace');
  }

  it('seed 000: local password, then the user\'s own Yahoo identity → code → tokens (amr pwd+fed, not mfa: the upstream login was a password too)', async () => {
    const login = await start('seed000');
    const last = await federatedLogin(login.browser, login.url.href, { username: 'alice', upstream: yahooAlice });
    assert.ok(last.location?.startsWith(RP_CALLBACK), `reached the application (${last.status} ${last.html.slice(0, 300)})`);
    const tokens = await redeem('seed000', login, last.location!);
    const claims = tokens.claims()!;
    assert.equal(claims.sub, alice.id);
    assert.deepEqual([...(claims.amr as string[])].sort(), ['fed', 'pwd']);
    assert.equal(claims.acr, 'urn:stepgate:acr:single-step');
  });

  it('password,yahoo: a Yahoo identity not linked to the user fails the step, even with the user\'s email', async () => {
    const login = await start('seed000');
    const page = await federatedLogin(login.browser, login.url.href, { username: 'alice', upstream: yahooMallory });
    assertCleanFailure(page, /not linked to your account/);
    assert.match(page.html, /Try again/, 'a way back');
  });

  it('password,other: the same sub at another provider is another identity and fails', async () => {
    const login = await start('other-app');
    const page = await federatedLogin(login.browser, login.url.href, { username: 'alice', upstream: otherAlice });
    assertCleanFailure(page, /not linked to your account/);
  });

  it('chain "yahoo" (JIT off): a linked identity identifies its user; an unlinked one is refused', async () => {
    let login = await start('yahoo-only');
    const ok = await federatedLogin(login.browser, login.url.href, { upstream: yahooAlice });
    assert.ok(ok.location?.startsWith(RP_CALLBACK));
    const claims = (await redeem('yahoo-only', login, ok.location!)).claims()!;
    assert.equal(claims.sub, alice.id);
    assert.deepEqual(claims.amr, ['fed']);

    login = await start('yahoo-only');
    const refused = await federatedLogin(login.browser, login.url.href, { upstream: yahooNewcomer });
    assertCleanFailure(refused, /No account here is linked/);
    assert.equal(await server.stepgate.users.byUsername('newcomer@yahoo'), undefined, 'no account created');
  });

  it('chain "yahoo-jit" (JIT on): a new identity gets a new account once; an email match never links', async () => {
    const first = await start('jit-app');
    let page = await federatedLogin(first.browser, first.url.href, { upstream: yahooNewcomer });
    const sub1 = (await redeem('jit-app', first, page.location!)).claims()!.sub;
    const created = await server.stepgate.users.byId(sub1);
    assert.equal(created?.username, 'newcomer@yahoo-jit');
    assert.equal(created?.passwordHash, null, 'provisioned without a password');

    const again = await start('jit-app');
    page = await federatedLogin(again.browser, again.url.href, { upstream: yahooNewcomer });
    assert.equal((await redeem('jit-app', again, page.location!)).claims()!.sub, sub1, 'the same account the second time');

    // Mallory's upstream email is alice@example.org: she still gets her own new account, not Alice's.
    const mallory = await start('jit-app');
    page = await federatedLogin(mallory.browser, mallory.url.href, { upstream: yahooMallory });
    const sub = (await redeem('jit-app', mallory, page.location!)).claims()!.sub;
    assert.notEqual(sub, alice.id);
    assert.notEqual(sub, sub1);
  });

  it('a tampered state is refused and no code is issued', async () => {
    const login = await start('yahoo-only');
    const form = await login.browser.go(login.url.href);
    const callback = new URL(await upstreamCallbackUrl(login.browser, form, yahooAlice, server.issuer));
    callback.searchParams.set('state', `${callback.searchParams.get('state')}x`);
    assertCleanFailure(await login.browser.go(callback.href), /could not be verified/);
  });

  it('a tampered nonce is refused (the id_token does not carry ours)', async () => {
    const login = await start('yahoo-only');
    const auth = new URL(await authorizationRequestUpstream(login.browser, login.url.href, yahoo.issuer));
    auth.searchParams.set('nonce', 'attacker-chosen-nonce');
    const form = await login.browser.go(auth.href);
    const page = await federatedLogin(login.browser, form, { upstream: yahooAlice });
    assertCleanFailure(page, /could not be verified/);
  });

  it('a replayed callback is refused, within the same login and after it', async () => {
    // Chain "yahoo,password": after the Yahoo step the same interaction waits for the password.
    const login = await start('yahoo-then-password');
    const form = await login.browser.go(login.url.href);
    const callback = await upstreamCallbackUrl(login.browser, form, yahooAlice, server.issuer);
    const next = await login.browser.go(callback);
    assert.equal(next.$('input[name=password]').length, 1, 'the first callback completes the step');
    // The upstream's own acr and amr are kept with the satisfied step.
    const uid = new URL(next.url).pathname.split('/')[2]!;
    const [row] = await server.stepgate.db.select<{ data: string }>('SELECT data FROM flow_states WHERE uid = :uid', { uid });
    const step = (JSON.parse(row!.data) as { satisfied: { amr: string[]; upstream?: { issuer: string; acr?: string; amr?: string[] } }[] }).satisfied[0]!;
    assert.deepEqual(step.amr, ['fed']);
    assert.deepEqual(step.upstream && { issuer: step.upstream.issuer, acr: step.upstream.acr, amr: step.upstream.amr }, { issuer: yahoo.issuer, acr: 'urn:upstream:loa:1', amr: ['pwd'] });
    // The step is done and the login moved on to a new interaction id: the replay finds nothing.
    assertCleanFailure(await login.browser.go(callback), /already used|expired|another browser/);
    const last = await federatedLogin(login.browser, next, { username: 'alice' });
    assert.ok(last.location?.startsWith(RP_CALLBACK), 'the login itself goes on');
    assertCleanFailure(await login.browser.go(callback), /expired|already used/);
  });

  it('the same callback delivered twice at once is accepted once', async () => {
    const login = await start('yahoo-then-password');
    const form = await login.browser.go(login.url.href);
    const routed = await login.browser.request(await upstreamCallbackUrl(login.browser, form, yahooAlice, server.issuer));
    const results = await Promise.all([login.browser.request(routed.location!), login.browser.request(routed.location!)]);
    const statuses = results.map((r) => r.status).sort();
    assert.equal(statuses[0], 303, 'one goes on to the next step');
    assert.ok(statuses[1]! >= 400 && statuses[1]! < 500, `the other is refused (${statuses[1]})`);
  });

  it('two first logins of the same new identity at once provision one account', async () => {
    const a = await start('jit-app');
    const b = await start('jit-app');
    const routed = [];
    for (const login of [a, b]) {
      const callback = await upstreamCallbackUrl(login.browser, await login.browser.go(login.url.href), yahooRacer, server.issuer);
      routed.push((await login.browser.request(callback)).location!);
    }
    // Both callbacks reach the broker together: each would provision the same identity.
    const [ra, rb] = await Promise.all([a.browser.request(routed[0]!), b.browser.request(routed[1]!)]);
    const pa = await federatedLogin(a.browser, await a.browser.go(ra.location!), {});
    const pb = await federatedLogin(b.browser, await b.browser.go(rb.location!), {});
    const subs = [(await redeem('jit-app', a, pa.location!)).claims()!.sub, (await redeem('jit-app', b, pb.location!)).claims()!.sub];
    assert.equal(subs[0], subs[1]);
    assert.equal((await server.stepgate.users.list()).filter((u) => u.username.startsWith('racer')).length, 1);
  });

  it('a step out at the upstream cannot be answered by a form post, only by its callback', async () => {
    const login = await start('yahoo-then-password');
    const form = await login.browser.go(login.url.href);
    const callback = new URL(await upstreamCallbackUrl(login.browser, form, yahooAlice, server.issuer));
    const routed = await login.browser.request(callback.href);
    const interaction = new URL(routed.location!).pathname.split('/')[2]!;
    const [state] = await server.stepgate.db.select<{ data: string }>('SELECT data FROM flow_states WHERE uid = :uid', { uid: interaction });
    // The login's own CSRF token (the user could have it from an earlier page): only the route is wrong.
    const csrf = (JSON.parse(state!.data) as { csrf: string }).csrf;
    const posted = await login.browser.request(`${server.issuer}/interaction/${interaction}/step/0`, { form: { _csrf: csrf, ...Object.fromEntries(callback.searchParams) } });
    assert.equal(posted.status, 409);
    const next = await login.browser.go(routed.location!);
    assert.equal(next.$('input[name=password]').length, 1, 'the callback itself still completes the step');
  });

  it('a callback for another interaction is refused', async () => {
    const victim = await start('yahoo-only');
    const victimForm = await victim.browser.go(victim.url.href);
    const attacker = await start('yahoo-only');
    const form = await attacker.browser.go(attacker.url.href);
    // The attacker's callback (her code and state), opened in the victim's browser.
    const callback = await upstreamCallbackUrl(attacker.browser, form, yahooMallory, server.issuer);
    assertCleanFailure(await victim.browser.go(callback), /could not be verified|does not belong/);
    assert.ok(victimForm.status < 400);
    // And in a browser with no login in progress at all.
    assertCleanFailure(await new Browser(RP_CALLBACK).go(callback), /does not belong/);
  });

  it('the upstream answering error=access_denied ends in a clear page with a way back', async () => {
    const login = await start('yahoo-only');
    const page = await federatedLogin(login.browser, login.url.href, { upstream: 'cancel' });
    assertCleanFailure(page, /cancelled or refused/);
    assert.equal(page.$('form[action$="/abort"]').length, 1, 'a way back to the application');
    const back = await login.browser.submit(page, {}, /abort$/);
    assert.ok(back.location?.startsWith(RP_CALLBACK));
    assert.equal(new URL(back.location!).searchParams.get('error'), 'access_denied');
  });

  it('an unreachable upstream fails the step cleanly and another method can be chosen', async () => {
    const login = await start('down-app');
    let page = await login.browser.go(login.url.href);
    page = await login.browser.submit(page, {}, /choose/, { name: 'option', value: 'down' });
    assertCleanFailure(page, /did not answer/);
    page = await login.browser.submit(page, {}, /choose/);
    assert.equal(page.$('button[value=password]').length, 1, 'back on the choice of methods');
  });

  it('an upstream that never answers fails the step after the configured timeout, not a hang', async () => {
    const login = await start('silent-app');
    assertCleanFailure(await login.browser.go(login.url.href), /did not answer/);
  });

  it('an identity provider added while running is usable at once (no restart)', async () => {
    const s = server.stepgate;
    assert.equal(s.runner.catalog.has('late'), false);
    await s.idps.add({ name: 'late', issuer: yahoo.issuer, clientId: yahoo.clientId, clientSecret: yahoo.clientSecret, scopes: ['openid'], displayName: 'Late', claimMapping: {}, jit: false, allowPrivateNetwork: true });
    await s.clients.create({ clientId: 'late-app', secret: `late-${randomBytes(12).toString('hex')}`, redirectUris: [RP_CALLBACK], grantTypes: ['authorization_code'], chain: 'late', settings: {} });
    const browser = new Browser(RP_CALLBACK);
    const url = new URL(`${server.issuer}/authorize`);
    url.search = new URLSearchParams({ client_id: 'late-app', response_type: 'code', scope: 'openid', redirect_uri: RP_CALLBACK, code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' }).toString();
    const upstreamAuth = await authorizationRequestUpstream(browser, url.href, yahoo.issuer);
    assert.equal(new URL(upstreamAuth).searchParams.get('redirect_uri'), `${server.issuer}/federation/late/callback`);
  });
});
