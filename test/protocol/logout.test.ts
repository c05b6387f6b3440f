import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import Provider from 'oidc-provider';
import { startStepgate, type TestServer } from '../support/server.ts';
import { Browser } from '../support/browser.ts';
import { addClient, addUser, beginLogin, completeLogin, relyingParty, RP_CALLBACK } from '../support/fixtures.ts';
import type { ClientSettings } from '../../server/storage/clients.ts';
import { logoutReceiver, type LogoutReceiver } from '../support/logout-receiver.ts';

const SIGNED_OUT = 'http://127.0.0.1:9/signed-out';

describe('protocol: sign-out (RP-initiated, back-channel single logout)', function () {
  this.timeout(40_000);
  let server: TestServer;
  let alice: Awaited<ReturnType<typeof addUser>>;
  let receiver: LogoutReceiver;
  const warnings: Record<string, unknown>[] = [];

  const configure = async (clientId: string, settings: ClientSettings) => {
    const current = (await server.stepgate.clients.get(clientId))!;
    await server.stepgate.clients.update(clientId, { grantTypes: current.grantTypes, settings: { ...current.settings, ...settings } });
  };

  /** Logs `browser` in to `clientId` (password step; SSO on later clients) and returns its tokens. */
  const login = async (browser: Browser, clientId: string, extra: Record<string, string> = {}, user = alice) => {
    const rp = await relyingParty(server, { clientId, secret: `${clientId}-secret-0123456789` });
    const start = await beginLogin(rp, extra);
    const back = await completeLogin(browser, start.url, user);
    return { rp, tokens: await oidc.authorizationCodeGrant(rp, new URL(back.location!), { pkceCodeVerifier: start.verifier, expectedState: start.state }) };
  };

  before(async () => {
    server = await startStepgate();
    const logger = server.stepgate.logger as unknown as { warn: (obj: Record<string, unknown>, msg: string) => void };
    logger.warn = (obj, msg) => { warnings.push({ ...obj, msg }); };
    receiver = await logoutReceiver(server.issuer);
    alice = await addUser(server, 'alice', { totp: false });
    for (const id of ['mail', 'wiki', 'chat']) await addClient(server, id, 'password');
    await configure('mail', { postLogoutRedirectUris: [SIGNED_OUT], backchannelLogoutUri: receiver.url('mail'), backchannelLogoutSessionRequired: true, logoutEndsGrants: true, allowPrivateNetwork: true });
    await configure('wiki', { backchannelLogoutUri: receiver.url('wiki'), allowPrivateNetwork: true });
    // the same receiver, but this client is not allowed private networks: the outbound policy refuses it
    await configure('chat', { backchannelLogoutUri: receiver.url('chat') });
  });
  after(async () => {
    await server.stop();
    receiver.close();
  });

  it('an unregistered post_logout_redirect_uri: a page in sign-out words, the reason logged, the session kept', async () => {
    const browser = new Browser(RP_CALLBACK);
    const { tokens } = await login(browser, 'mail');
    const page = await browser.request(`${server.issuer}/logout?${new URLSearchParams({ id_token_hint: tokens.id_token!, post_logout_redirect_uri: 'https://evil.example/bye' })}`, { headers: { accept: 'text/html' } });
    assert.equal(page.status, 400);
    assert.match(page.$('h1').text(), /could not sign you out/);
    assert.match(page.$('.message').text(), /not registered/);
    assert.doesNotMatch(page.html, /sign you in/);
    const logged = warnings.find((w) => w.msg === 'sign-out refused');
    assert.equal(logged?.error_description, 'post_logout_redirect_uri not registered');
    assert.equal(logged?.client_id, 'mail');
    const again = await browser.go((await beginLogin(await relyingParty(server, { clientId: 'mail', secret: 'mail-secret-0123456789' }))).url.href);
    assert.ok(again.location?.startsWith(RP_CALLBACK), 'still signed in: no password asked');
  });

  it('sid is in id_tokens of a client that requires it, or that asks for it with the claims parameter, and not otherwise', async () => {
    const browser = new Browser(RP_CALLBACK);
    assert.equal(typeof (await login(browser, 'mail')).tokens.claims()!.sid, 'string');
    assert.equal((await login(browser, 'chat')).tokens.claims()!.sid, undefined);
    const asked = await login(browser, 'chat', { claims: JSON.stringify({ id_token: { sid: null } }) });
    assert.equal(typeof asked.tokens.claims()!.sid, 'string');
    const meta = await (await fetch(`${server.issuer}/.well-known/openid-configuration`)).json() as Record<string, unknown>;
    assert.ok((meta.claims_supported as string[]).includes('sid'));
    assert.equal(meta.claims_parameter_supported, true);
    assert.equal(meta.backchannel_logout_supported, true);
    assert.equal(meta.backchannel_logout_session_supported, true);
    assert.equal(meta.frontchannel_logout_supported, undefined, 'oidc-provider 9 has no front-channel logout');
    // what the README says of it, checked against the installed package
    assert.throws(() => new Provider(server.issuer, { features: { frontchannelLogout: { enabled: true } } } as never), /Unknown feature configuration: frontchannelLogout/);
  });

  it('RP-initiated logout: back-channel logout tokens reach every signed-in client, the session ends, grants end as configured', async () => {
    const browser = new Browser('http://127.0.0.1:9/');
    const mail = await login(browser, 'mail', { scope: 'openid offline_access', prompt: 'consent' });
    const wiki = await login(browser, 'wiki', { scope: 'openid offline_access', prompt: 'consent' });
    await login(browser, 'chat');
    assert.ok(mail.tokens.refresh_token && wiki.tokens.refresh_token);
    const before = receiver.received.length;

    const confirm = await browser.go(`${server.issuer}/logout?${new URLSearchParams({ id_token_hint: mail.tokens.id_token!, post_logout_redirect_uri: SIGNED_OUT, state: 'bye-1' })}`);
    assert.equal(confirm.status, 200);
    const done = await browser.submit(confirm, {}, /logout/, { name: 'logout', value: 'yes' });
    assert.equal(done.location, `${SIGNED_OUT}?state=bye-1`);

    const tokens = receiver.received.slice(before);
    assert.deepEqual(receiver.rejected, []);
    assert.deepEqual(tokens.map((t) => t.clientId).sort(), ['mail', 'wiki'], 'chat\'s loopback URI is refused by the outbound policy');
    assert.ok(warnings.some((w) => w.msg === 'back-channel logout not delivered' && w.client_id === 'chat'));
    const forMail = tokens.find((t) => t.clientId === 'mail')!.claims;
    assert.equal(forMail.sub, alice.id);
    assert.equal(forMail.sid, mail.tokens.claims()!.sid, 'the logout token names the session the id_token did');
    assert.equal(tokens.find((t) => t.clientId === 'wiki')!.claims.sid, undefined, 'wiki did not ask for sid');

    // mail ends its grants at sign-out even with offline_access; wiki keeps its offline grant
    assert.equal((await oidc.tokenIntrospection(mail.rp, mail.tokens.refresh_token!)).active, false);
    assert.equal((await oidc.tokenIntrospection(wiki.rp, wiki.tokens.refresh_token!)).active, true);

    const next = await browser.go((await beginLogin(mail.rp)).url.href);
    assert.equal(next.$('input[name=password]').length, 1, 'the next visit asks for the password again');
  });
});
