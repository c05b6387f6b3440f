import assert from 'node:assert/strict';
import { startStepgate, type TestServer } from '../support/server.ts';
import { Browser } from '../support/browser.ts';
import { createExampleApi } from '../../examples/protected-api.ts';
import { curl, introspect, type Json } from './support.ts';
import type { Server } from 'node:http';

/**
 * The seed documents' token commands (WSO2 API Manager), pasted with only the host and
 * port changed, and what the documents say they do. The clients use the consumer keys
 * and secrets the documents' Basic credentials encode, so those headers work verbatim.
 */
describe('token API: the seed documents\' curl commands', function () {
  this.timeout(30_000);
  let server: TestServer;
  let base: string;
  // seeds 001 and 003: base64("IZsIi6HDbB5e8VKdZAnUi_fZ3f8a:Gm0bJ6oWV8fC5OQLLlC6jslACW8a")
  const SEED_BASIC = 'SVpzSWk2SERiQjVlOFZLZFpBblVpX2ZaM2Y4YTpHbTBiSjZvV1Y4ZkM1T1FMTGxDNmpzbEFDVzhh';
  const username = 'seeduser';
  const password = 'seed-password-1';

  before(async () => {
    server = await startStepgate();
    base = server.issuer;
    const s = server.stepgate;
    await s.users.create({ username, passwordHash: await s.passwords.hash(password) });
    await s.clients.create({
      clientId: 'IZsIi6HDbB5e8VKdZAnUi_fZ3f8a', secret: 'Gm0bJ6oWV8fC5OQLLlC6jslACW8a', redirectUris: [], chain: 'password',
      grantTypes: ['password', 'refresh_token', 'client_credentials'], settings: { scopes: ['PRODUCTION', 'read', 'update'] },
    });
    await s.clients.create({
      clientId: 'x55aWZY_bUBmMv8Sr39rLmgSJfAa', secret: 'NpcJuGE3RPrWecsPCL0Chmwlnrca', redirectUris: [], chain: 'password',
      grantTypes: ['client_credentials'], settings: {},
    });
    await s.clients.create({
      clientId: 'qRpi9pwfgCorL93uX2LfaMCB12Qa', secret: 'vOwHrbcfx8Q4bEbXxeNkcJKOWrga', redirectUris: ['https://client.example.com'], chain: 'password',
      grantTypes: ['authorization_code', 'refresh_token'], settings: {},
    });
  });
  after(async () => server.stop());

  // The consumer key and secret pair of seed 001/003, for requests the tests make themselves.
  const seedSecret = 'Gm0bJ6oWV8fC5OQLLlC6jslACW8a';
  const active = async (token: string) => (await introspect(server, 'IZsIi6HDbB5e8VKdZAnUi_fZ3f8a', token, seedSecret)).active;

  describe('seed 001 (API Manager 1.5 token API)', () => {
    const login = (auth: string) =>
      `curl -k -d "grant_type=password&username=${username}&password=${password}&scope=PRODUCTION" -H "${auth}Basic ${SEED_BASIC}, Content-Type: application/x-www-form-urlencoded" ${base}/login`;

    it('as written ("Authorization :Basic", a space before the colon) is malformed HTTP: a 400 that names the fix', async () => {
      const res = await curl(login('Authorization :'));
      assert.equal(res.status, 400);
      assert.equal(res.body.error, 'invalid_request');
      assert.match(String(res.body.error_description), /Authorization: Basic/);
    });

    it('password grant at /login with scope PRODUCTION gives an access and a refresh token; refresh renews them; revoke ends them', async () => {
      const res = await curl(login('Authorization: '));
      assert.equal(res.status, 200, res.text);
      assert.equal(res.body.token_type, 'Bearer');
      assert.equal(res.body.scope, 'PRODUCTION');
      assert.equal(res.body.expires_in, 3600, 'user tokens live 60 minutes by default');
      const refreshToken = String(res.body.refresh_token);

      const renewed = await curl(`curl -k -d "grant_type=refresh_token&refresh_token=${refreshToken}&scope=PRODUCTION" -H "Authorization: Basic ${SEED_BASIC}, Content-Type: application/x-www-form-urlencoded" ${base}/login`);
      assert.equal(renewed.status, 200, renewed.text);
      assert.equal(renewed.body.scope, 'PRODUCTION');
      assert.notEqual(renewed.body.access_token, res.body.access_token);
      assert.notEqual(renewed.body.refresh_token, refreshToken);

      const token = String(renewed.body.access_token);
      assert.equal(await active(token), true);
      const revoked = await curl(`curl -k -d "token=${token}" -H "Authorization: Basic ${SEED_BASIC}" ${base}/revoke`);
      assert.equal(revoked.status, 200);
      assert.equal(await active(token), false);
    });
  });

  describe('seed 002 (device_ scopes)', () => {
    const device = (scope: string) =>
      `curl -k -d "grant_type=password&username=${username}&password=${password}&scope=${scope}" -H "Authorization: Basic ${SEED_BASIC}, Content-Type: application/x-www-form-urlencoded" ${base}/token`;

    it('device_ipad and device_iphone get different tokens; revoking the iPhone\'s leaves the iPad\'s working', async () => {
      const ipad = await curl(device('device_ipad'));
      const iphone = await curl(device('device_iphone'));
      assert.equal(ipad.status, 200, ipad.text);
      assert.equal(iphone.status, 200, iphone.text);
      assert.equal(ipad.body.scope, 'device_ipad', 'a device_ scope needs no registration');
      assert.notEqual(ipad.body.access_token, iphone.body.access_token);

      // The iPhone logs out: its refresh token is revoked, which ends its whole token family.
      const out = await curl(`curl -k -d "token=${iphone.body.refresh_token}" -H "Authorization: Basic ${SEED_BASIC}" ${base}/revoke`);
      assert.equal(out.status, 200);
      assert.equal(await active(String(iphone.body.access_token)), false, 'the iPhone access token went with its family');
      assert.equal(await active(String(ipad.body.access_token)), true, "the iPad's token still works");
      const ipadRefresh = await curl(`curl -k -d "grant_type=refresh_token&refresh_token=${ipad.body.refresh_token}" -H "Authorization: Basic ${SEED_BASIC}" ${base}/token`);
      assert.equal(ipadRefresh.status, 200, ipadRefresh.text);
      assert.equal(ipadRefresh.body.scope, 'device_ipad');
    });

    it('device_ scopes combine with other scopes', async () => {
      const res = await curl(device('device_ipad read'));
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(String(res.body.scope).split(' ').sort(), ['device_ipad', 'read']);
    });
  });

  describe('seed 003 (password grant with scopes) and the scope-protected API', () => {
    let api: Server;
    let apiBase: string;
    before(async () => {
      api = createExampleApi({ issuer: base, clientId: 'IZsIi6HDbB5e8VKdZAnUi_fZ3f8a', clientSecret: seedSecret, cache: { maxSeconds: 0 } }).listen(0, '127.0.0.1');
      await new Promise((resolve) => api.once('listening', resolve));
      apiBase = `http://127.0.0.1:${(api.address() as { port: number }).port}`;
    });
    after(() => new Promise<void>((resolve) => api.close(() => resolve())));

    it('without a scope: an access and a refresh token, exactly as pasted', async () => {
      const res = await curl(`curl -k -d "grant_type=password&username=${username}&password=${password}" -H "Authorization: Basic ${SEED_BASIC}, Content-Type: application/x-www-form-urlencoded" ${base}/token`);
      assert.equal(res.status, 200, res.text);
      assert.equal(typeof res.body.access_token, 'string');
      assert.equal(typeof res.body.refresh_token, 'string');
    });

    it('a resource needing "update" accepts a read+update token and blocks a read-only one', async () => {
      const withScopes = (scopes: string) =>
        `curl -k -d "grant_type=password&username=${username}&password=${password}&scope=${scopes}" -H "Authorization: Basic ${SEED_BASIC}, Content-Type: application/x-www-form-urlencoded" ${base}/token`;
      const both = await curl(withScopes('read update'));
      const readOnly = await curl(withScopes('read'));
      assert.equal(both.body.scope, 'read update');
      assert.equal(readOnly.body.scope, 'read');

      const order = (token: unknown) => curl(`curl -X POST --header 'Accept: application/json' --header 'Authorization: Bearer ${token}' '${apiBase}/pizza/1.0/orders' -k`);
      const allowed = await order(both.body.access_token);
      assert.equal(allowed.status, 201, allowed.text);
      const blocked = await order(readOnly.body.access_token);
      assert.equal(blocked.status, 403);
      assert.equal(blocked.body.error, 'insufficient_scope');
      const menu = await curl(`curl -X GET --header 'Accept: application/json' --header 'Authorization: Bearer ${readOnly.body.access_token}' '${apiBase}/pizza/1.0/menu' -k`);
      assert.equal(menu.status, 200);
      assert.ok(Array.isArray(JSON.parse(menu.text)));
    });
  });

  describe('seed 004 (client_credentials for a back end; the gateway\'s "Missing Credentials")', () => {
    it('grant_type=client_credentials with the seed\'s Basic credentials gives an application token', async () => {
      const res = await curl(`curl -k -d "grant_type=client_credentials" -H "Authorization: Basic eDU1YVdaWV9iVUJtTXY4U3IzOXJMbWdTSmZBYTpOcGNKdUdFM1JQcldlY3NQQ0wwQ2htd2xucmNh" ${base}/token`);
      assert.equal(res.status, 200, res.text);
      assert.equal(res.body.token_type, 'Bearer');
      assert.equal(res.body.expires_in, 3600, 'application tokens live 60 minutes by default');
    });

    it('an API call without a token is refused with "Missing Credentials"-style guidance', async () => {
      const api = createExampleApi({ issuer: base, clientId: 'IZsIi6HDbB5e8VKdZAnUi_fZ3f8a', clientSecret: seedSecret }).listen(0, '127.0.0.1');
      await new Promise((resolve) => api.once('listening', resolve));
      try {
        const res = await curl(`curl -X GET --header 'Accept: application/json' 'http://127.0.0.1:${(api.address() as { port: number }).port}/pizza/1.0/menu' -k -i`);
        assert.equal(res.status, 401);
        assert.match(res.text, /WWW-Authenticate: Bearer realm=/i);
        const body = JSON.parse(res.text.slice(res.text.indexOf('{'))) as Json;
        assert.equal(body.error, 'invalid_token');
        assert.match(String(body.error_description), /Authorization: Bearer ACCESS_TOKEN/);
      } finally {
        await new Promise<void>((resolve) => api.close(() => resolve()));
      }
    });
  });

  describe('seed 000 (authorization code after a browser login)', () => {
    it('the code is redeemed with the seed\'s curl command', async () => {
      const browser = new Browser('https://client.example.com');
      const authorize = `${base}/authorize?response_type=code&client_id=qRpi9pwfgCorL93uX2LfaMCB12Qa&scope=openid&redirect_uri=${encodeURIComponent('https://client.example.com')}`;
      let page = await browser.go(authorize);
      page = await browser.submit(page, { username, password });
      if (!page.location?.startsWith('https://client.example.com')) page = await browser.submit(page, {}, /consent/, { name: 'decision', value: 'allow' });
      const code = new URL(page.location!).searchParams.get('code');
      assert.ok(code, `no code in ${page.location}`);
      const res = await curl(`curl -k -X POST -H "Authorization: Basic cVJwaTlwd2ZnQ29yTDkzdVgyTGZhTUNCMTJRYTp2T3dIcmJjZng4UTRiRWJYeGVOa2NKS09Xcmdh" -H "Content-Type: application/x-www-form-urlencoded" -d "grant_type=authorization_code&code=${code}&redirect_uri=https%3A%2F%2Fclient.example.com" ${base}/token`);
      assert.equal(res.status, 200, res.text);
      assert.equal(typeof res.body.access_token, 'string');
      assert.equal(typeof res.body.refresh_token, 'string');
    });
  });
});
