import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { startStepgate, type TestServer } from '../support/server.ts';
import { Browser } from '../support/browser.ts';
import { addClient, addUser, beginLogin, completeLogin, relyingParty, RP_CALLBACK } from '../support/fixtures.ts';
import { tokenRequest } from '../token-api/support.ts';

type Json = Record<string, unknown>;

/**
 * Discovery is a promise: every endpoint, grant type, mode and feature it advertises is
 * used here by a request that must work (client authentication methods:
 * client-auth.test.ts; back-channel logout, sid and the claims parameter: logout.test.ts).
 */
describe('protocol: what discovery advertises works', function () {
  this.timeout(60_000);
  let server: TestServer;
  let meta: Json;
  let alice: Awaited<ReturnType<typeof addUser>>;
  let rp: oidc.Configuration;

  before(async () => {
    server = await startStepgate();
    alice = await addUser(server, 'alice', { totp: false });
    rp = await relyingParty(server, await addClient(server, 'web', 'password'));
    await addClient(server, 'pushed', 'password');
    const pushed = (await server.stepgate.clients.get('pushed'))!;
    await server.stepgate.clients.update('pushed', { grantTypes: pushed.grantTypes, settings: { ...pushed.settings, requirePushedAuthorizationRequests: true } });
    await addClient(server, 'all', 'password', { grants: ['authorization_code', 'refresh_token', 'client_credentials', 'password', 'urn:ietf:params:oauth:grant-type:saml2-bearer'] });
    meta = await (await fetch(`${server.issuer}/.well-known/openid-configuration`)).json() as Json;
  });
  after(async () => server.stop());

  it('every advertised endpoint answers as a protocol endpoint (never 404)', async () => {
    const endpoints = ['authorization_endpoint', 'token_endpoint', 'userinfo_endpoint', 'jwks_uri', 'revocation_endpoint', 'introspection_endpoint', 'end_session_endpoint', 'pushed_authorization_request_endpoint'];
    for (const name of endpoints) {
      const url = String(meta[name]);
      assert.ok(url.startsWith(server.issuer), `${name} is advertised`);
      const get = ['authorization_endpoint', 'userinfo_endpoint', 'jwks_uri', 'end_session_endpoint'].includes(name);
      const res = await fetch(url, get ? {} : { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: '' });
      assert.notEqual(res.status, 404, `${name} ${url}`);
      assert.ok(res.status < 500, `${name} answered ${res.status}`);
    }
  });

  it('every advertised grant type is accepted at /token (an unknown one is not)', async () => {
    for (const grant of meta.grant_types_supported as string[]) {
      const res = await tokenRequest(server, 'all', { grant_type: grant });
      assert.notEqual(res.body.error, 'unsupported_grant_type', grant);
      assert.ok(res.status === 200 || res.status === 400, `${grant}: ${res.status}`);
    }
    assert.equal((await tokenRequest(server, 'all', { grant_type: 'urn:example:made-up' })).body.error, 'unsupported_grant_type');
  });

  it('code flow with S256 (the only code_challenge_method) and the RFC 9207 iss in the response; plain is refused', async () => {
    assert.deepEqual(meta.code_challenge_methods_supported, ['S256']);
    assert.equal(meta.authorization_response_iss_parameter_supported, true);
    const start = await beginLogin(rp);
    const back = await completeLogin(new Browser(RP_CALLBACK), start.url, alice);
    assert.equal(new URL(back.location!).searchParams.get('iss'), server.issuer);
    const tokens = await oidc.authorizationCodeGrant(rp, new URL(back.location!), { pkceCodeVerifier: start.verifier, expectedState: start.state });
    assert.ok(tokens.id_token);
    const plain = await new Browser(RP_CALLBACK).go(oidc.buildAuthorizationUrl(rp, { redirect_uri: RP_CALLBACK, scope: 'openid', code_challenge: 'x'.repeat(43), code_challenge_method: 'plain' }).href);
    assert.equal(new URL(plain.location!).searchParams.get('error'), 'invalid_request');
  });

  it('response_mode form_post answers with a self-posting form carrying the code', async () => {
    assert.ok((meta.response_modes_supported as string[]).includes('form_post'));
    const start = await beginLogin(rp, { response_mode: 'form_post' });
    const browser = new Browser(RP_CALLBACK);
    let page = await browser.go(start.url.href);
    page = await browser.submit(page, { username: 'alice', password: 'correct horse battery staple' });
    if (page.$('button[value=allow]').length) page = await browser.submit(page, {}, /consent/, { name: 'decision', value: 'allow' });
    const form = page.$(`form[action="${RP_CALLBACK}"]`);
    assert.equal(form.length, 1, page.html.slice(0, 500));
    assert.ok(form.find('input[name=code]').attr('value'));
  });

  it('PAR: a pushed request logs in; a client that requires PAR is refused a plain request', async () => {
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const url = await oidc.buildAuthorizationUrlWithPAR(rp, { redirect_uri: RP_CALLBACK, scope: 'openid', state, code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' });
    assert.match(url.searchParams.get('request_uri') ?? '', /^urn:ietf:params:oauth:request_uri:/);
    const back = await completeLogin(new Browser(RP_CALLBACK), url, alice);
    const tokens = await oidc.authorizationCodeGrant(rp, new URL(back.location!), { pkceCodeVerifier: verifier, expectedState: state });
    assert.ok(tokens.access_token);

    const pushedRp = await relyingParty(server, { clientId: 'pushed', secret: 'pushed-secret-0123456789' });
    const plain = await new Browser(RP_CALLBACK).go((await beginLogin(pushedRp)).url.href);
    assert.equal(new URL(plain.location!).searchParams.get('error'), 'invalid_request');
    assert.match(new URL(plain.location!).searchParams.get('error_description') ?? '', /Pushed Authorization Request/i);
  });

  it('DPoP: an application token bound to the client\'s key introspects as token_type DPoP with its thumbprint', async () => {
    assert.ok((meta.dpop_signing_alg_values_supported as string[]).includes('ES256'));
    const all = await relyingParty(server, { clientId: 'all', secret: 'all-secret-0123456789' });
    const DPoP = oidc.getDPoPHandle(all, await oidc.randomDPoPKeyPair('ES256'));
    const token = await oidc.clientCredentialsGrant(all, {}, { DPoP });
    assert.equal(token.token_type.toLowerCase(), 'dpop');
    const info = await oidc.tokenIntrospection(all, token.access_token);
    assert.equal(info.token_type, 'DPoP');
    assert.equal(typeof (info.cnf as Json | undefined)?.jkt, 'string');
  });

  it('prompt=none answers login_required without a session and consent_required before consent', async () => {
    const none = async (browser: Browser, config: oidc.Configuration) => {
      const page = await browser.go((await beginLogin(config, { prompt: 'none' })).url.href);
      return new URL(page.location!).searchParams.get('error');
    };
    assert.equal(await none(new Browser(RP_CALLBACK), rp), 'login_required');
    const browser = new Browser(RP_CALLBACK);
    await completeLogin(browser, (await beginLogin(rp)).url, alice);
    const other = await relyingParty(server, { clientId: 'all', secret: 'all-secret-0123456789' });
    assert.equal(await none(browser, other), 'consent_required');
    assert.equal(await none(browser, rp), null, 'signed in and consented: a code, no error');
  });

  it('ui_locales reaches our pages: it is kept in the interaction\'s parameters', async () => {
    const page = await new Browser(RP_CALLBACK).go((await beginLogin(rp, { ui_locales: 'fr-CA fr' })).url.href);
    const uid = new URL(page.url).pathname.split('/')[2]!;
    const interaction = await server.stepgate.app.Interaction.find(uid);
    assert.equal(interaction?.params.ui_locales, 'fr-CA fr');
  });
});
