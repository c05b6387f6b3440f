import assert from 'node:assert/strict';
import { startStepgate, freePort, type TestServer } from '../support/server.ts';
import { startUpstream, type Upstream } from '../support/upstream.ts';
import { Browser } from '../support/browser.ts';
import { addClient, beginLogin, relyingParty, RP_CALLBACK } from '../support/fixtures.ts';
import { federatedLogin } from '../support/federation.ts';

/**
 * stepgate as relying party of other providers (real oidc-provider upstreams): subjects
 * that differ only in case, claims only at userinfo, and our own credentials refused.
 */
describe('protocol: upstream providers (JIT usernames, userinfo, configuration errors)', function () {
  this.timeout(60_000);
  let server: TestServer;
  let corp: Upstream;
  const warnings: Record<string, unknown>[] = [];
  // case-sensitive subjects, the same preferred_username
  const upper = { username: 'sam-upper', password: 'pw-upper', sub: 'Sam', email: 'sam1@corp.example' };
  const lower = { username: 'sam-lower', password: 'pw-lower', sub: 'sam', email: 'sam2@corp.example' };

  before(async () => {
    const port = await freePort();
    const callbacks = ['corp', 'broken'].map((n) => `http://localhost:${port}/federation/${n}/callback`);
    corp = await startUpstream({ host: '127.0.0.5', users: [upper, lower], redirectUris: callbacks, claimsOnlyAtUserinfo: true });
    server = await startStepgate({ port });
    const logger = server.stepgate.logger as unknown as { warn: (obj: Record<string, unknown>, msg: string) => void };
    logger.warn = (obj, msg) => { warnings.push({ ...obj, msg }); };
    const s = server.stepgate;
    const idp = { issuer: corp.issuer, clientId: corp.clientId, scopes: ['openid', 'profile', 'email'], claimMapping: { username: 'email' }, jit: true, allowPrivateNetwork: true };
    await s.idps.add({ ...idp, name: 'corp', clientSecret: corp.clientSecret, displayName: 'Corp' });
    await s.idps.add({ ...idp, name: 'broken', clientSecret: 'not-our-secret-at-corp', displayName: 'Broken Corp' });
    await addClient(server, 'corp-app', 'corp');
    await addClient(server, 'broken-app', 'broken');
    // a local account already has the username the second subject would get
    await s.users.create({ username: 'sam2@corp.example@corp', passwordHash: null, email: null });
  });
  after(async () => {
    await server.stop();
    await corp.stop();
  });

  const login = async (clientId: string, upstream: { username: string; password: string }) => {
    const rp = await relyingParty(server, { clientId, secret: `${clientId}-secret-0123456789` });
    return federatedLogin(new Browser(RP_CALLBACK), (await beginLogin(rp)).url.href, { upstream });
  };

  it('claims the id_token lacks come from userinfo; subjects differing in case get distinct, readable, unique usernames', async () => {
    assert.ok((await login('corp-app', upper)).location?.startsWith(RP_CALLBACK));
    assert.ok((await login('corp-app', lower)).location?.startsWith(RP_CALLBACK));
    const s = server.stepgate;
    const first = (await s.links.find(corp.issuer, 'Sam'))!;
    const second = (await s.links.find(corp.issuer, 'sam'))!;
    assert.notEqual(first.accountId, second.accountId, 'two upstream subjects, two accounts');
    // the username comes from the mapped claim (email), which only userinfo returned
    assert.equal((await s.users.byId(first.accountId))!.username, 'sam1@corp.example@corp');
    assert.equal((await s.users.byId(first.accountId))!.email, 'sam1@corp.example');
    assert.equal((await s.users.byId(second.accountId))!.username, 'sam2@corp.example-2@corp', 'the taken username gets a number');
    // and the same subject signs in to the same account again
    assert.ok((await login('corp-app', upper)).location?.startsWith(RP_CALLBACK));
    assert.equal((await s.links.find(corp.issuer, 'Sam'))!.accountId, first.accountId);
  });

  it('our credentials refused upstream: the page says it is a configuration problem, the log has the provider\'s error', async () => {
    const page = await login('broken-app', upper);
    assert.ok(page.status >= 400);
    const text = page.$('body').text();
    assert.match(text, /configuration problem/);
    assert.doesNotMatch(text, /used already/);
    const logged = warnings.find((w) => w.msg === 'upstream identity provider failed' && w.idp === 'broken');
    const err = logged?.err as Record<string, unknown> | undefined;
    assert.equal(err?.error, 'invalid_client');
    assert.equal(typeof err?.error_description, 'string');
    assert.equal(err?.status, 401);
  });
});
