import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { startStepgate, type TestServer } from '../support/server.ts';
import { addClient, addUser, beginLogin, completeLogin, relyingParty, RP_CALLBACK } from '../support/fixtures.ts';
import { api, clientToken } from '../support/admin.ts';
import { Browser } from '../support/browser.ts';

/**
 * Disabling, deleting or taking the admin role from an account ends what it has open at
 * once: introspection answers active: false for its access tokens, the token endpoint
 * refuses its refresh tokens, and its single sign-on session is gone. Seen from an
 * openid-client relying party.
 */
describe('management: disable, delete and role removal end the account\'s tokens and sessions', function () {
  this.timeout(60_000);
  let server: TestServer;
  let token: string;
  let rp: oidc.Configuration;

  before(async () => {
    server = await startStepgate();
    token = await clientToken(server, 'automation', { adminApi: true });
    rp = await relyingParty(server, await addClient(server, 'webapp', 'password,totp'));
  });
  after(async () => server?.stop());

  /** A signed-in user at the relying party: the browser (with its SSO session) and live tokens. */
  async function signedIn(username: string, roles: string[] = []) {
    const user = await addUser(server, username, { roles });
    const browser = new Browser(RP_CALLBACK);
    const login = await beginLogin(rp, { scope: 'openid offline_access' , prompt: 'consent' });
    const last = await completeLogin(browser, login.url, user);
    const tokens = await oidc.authorizationCodeGrant(rp, new URL(last.location!), { pkceCodeVerifier: login.verifier, expectedState: login.state });
    assert.ok(tokens.refresh_token, 'a refresh token was issued');
    assert.equal((await oidc.tokenIntrospection(rp, tokens.access_token)).active, true);
    return { user, browser, tokens };
  }

  /** Everything the account had open is gone. */
  async function ended({ browser, tokens }: Awaited<ReturnType<typeof signedIn>>) {
    assert.equal((await oidc.tokenIntrospection(rp, tokens.access_token)).active, false, 'the access token is inactive');
    assert.equal((await oidc.tokenIntrospection(rp, tokens.refresh_token!)).active, false, 'the refresh token is inactive');
    await assert.rejects(oidc.refreshTokenGrant(rp, tokens.refresh_token!), (err: oidc.ResponseBodyError) => err.error === 'invalid_grant');
    const again = await browser.go((await beginLogin(rp)).url.href);
    assert.ok(!again.location?.startsWith(RP_CALLBACK), 'no single sign-on: the browser is asked to sign in again');
  }

  it('disabling (API) ends them at once, and the change records how many rows it ended', async () => {
    const alice = await signedIn('alice');
    const res = await api(server, 'POST', `/users/${alice.user.id}/disable`, { token });
    assert.equal(res.status, 200);
    await ended(alice);
    const [event] = await server.stepgate.audit.list({ kind: 'admin.user.disabled' });
    assert.ok((event!.details.revoked as number) >= 3, JSON.stringify(event!.details));
    // enabling again does not bring them back
    await api(server, 'POST', `/users/${alice.user.id}/enable`, { token });
    assert.equal((await oidc.tokenIntrospection(rp, alice.tokens.access_token)).active, false);
  });

  it('deleting ends them', async () => {
    const bob = await signedIn('bob');
    assert.equal((await api(server, 'DELETE', `/users/${bob.user.id}`, { token })).status, 204);
    await ended(bob);
  });

  it('taking away the admin role ends them; other role changes do not', async () => {
    const carol = await signedIn('carol', ['admin', 'ops']);
    await api(server, 'PATCH', `/users/${carol.user.id}`, { token, body: { roles: ['admin'] } });
    assert.equal((await oidc.tokenIntrospection(rp, carol.tokens.access_token)).active, true, 'dropping "ops" leaves the tokens');
    await api(server, 'PATCH', `/users/${carol.user.id}`, { token, body: { roles: [] } });
    await ended(carol);
  });

  it('another account keeps its tokens', async () => {
    const dora = await signedIn('dora');
    const erin = await signedIn('erin');
    await api(server, 'POST', `/users/${erin.user.id}/disable`, { token });
    assert.equal((await oidc.tokenIntrospection(rp, dora.tokens.access_token)).active, true);
    assert.ok((await oidc.refreshTokenGrant(rp, dora.tokens.refresh_token!)).access_token);
  });
});
