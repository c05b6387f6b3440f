import assert from 'node:assert/strict';
import { startStepgate, type TestServer } from '../support/server.ts';
import { addClient, addUser, PASSWORD } from '../support/fixtures.ts';
import { NEVER_EXPIRES } from '../../server/provider/token-lifetimes.ts';
import { introspect, tokenRequest } from './support.ts';
import { stepgateCli } from './cli.ts';
import { restoreClock, setClock } from './clock.ts';

describe('token API: token lifetimes per client', function () {
  this.timeout(40_000);
  let server: TestServer;
  const grants = ['password', 'refresh_token', 'client_credentials'];

  before(async () => {
    server = await startStepgate();
    await addUser(server, 'alice', { totp: false });
    for (const id of ['defaults', 'custom', 'sneaky', 'forever', 'brief']) await addClient(server, id, 'password', { grants });
  });
  after(async () => server.stop());

  const userToken = (clientId: string) => tokenRequest(server, clientId, { grant_type: 'password', username: 'alice', password: PASSWORD });
  const appToken = (clientId: string) => tokenRequest(server, clientId, { grant_type: 'client_credentials' });
  const lifetime = async (clientId: string, token: unknown) => {
    const info = await introspect(server, clientId, String(token));
    assert.equal(info.active, true);
    return Number(info.exp) - Number(info.iat);
  };

  it('defaults to 3600 s for user and application tokens', async () => {
    const user = await userToken('defaults');
    const app = await appToken('defaults');
    assert.equal(user.body.expires_in, 3600);
    assert.equal(app.body.expires_in, 3600);
    assert.equal(await lifetime('defaults', user.body.access_token), 3600);
    assert.equal(await lifetime('defaults', app.body.access_token), 3600);
  });

  it('user and application tokens have separate lifetimes, set with the CLI', async () => {
    const set = await stepgateCli(server, ['client', 'update', 'custom', '--user-token-ttl', '120', '--app-token-ttl', '45', '--json']);
    assert.equal(set.code, 0, set.stderr);
    assert.equal(JSON.parse(set.stdout).user_token_ttl, 120);
    const user = await userToken('custom');
    assert.equal(user.body.expires_in, 120);
    assert.equal(await lifetime('custom', user.body.access_token), 120);
    const refreshed = await tokenRequest(server, 'custom', { grant_type: 'refresh_token', refresh_token: String(user.body.refresh_token) });
    assert.equal(refreshed.body.expires_in, 120, 'a refreshed user token too');
    const app = await appToken('custom');
    assert.equal(app.body.expires_in, 45);
    assert.equal(await lifetime('custom', app.body.access_token), 45);
  });

  it('a negative lifetime is refused by the CLI unless non-expiring tokens are allowed for the client', async () => {
    const refused = await stepgateCli(server, ['client', 'update', 'forever', '--user-token-ttl=-1']);
    assert.equal(refused.code, 2);
    assert.equal(refused.stderr.trim().split('\n').length, 1);
    assert.match(refused.stderr, /--allow-non-expiring/);
    assert.equal((await userToken('forever')).body.expires_in, 3600, 'nothing was written');

    const allowed = await stepgateCli(server, ['client', 'update', 'forever', '--user-token-ttl=-1', '--app-token-ttl=-1', '--allow-non-expiring']);
    assert.equal(allowed.code, 0, allowed.stderr);
    const user = await userToken('forever');
    assert.equal(user.body.expires_in, NEVER_EXPIRES);
    assert.equal(await lifetime('forever', user.body.access_token), NEVER_EXPIRES);
    assert.equal((await appToken('forever')).body.expires_in, NEVER_EXPIRES);
  });

  it('application tokens can be JWTs (CLI --app-token-format); a bad value changes nothing', async () => {
    const bad = await stepgateCli(server, ['client', 'update', 'custom', '--app-token-format', 'saml']);
    assert.equal(bad.code, 2);
    assert.equal((await appToken('custom')).body.access_token!.toString().split('.').length, 1);
    const set = await stepgateCli(server, ['client', 'update', 'custom', '--app-token-format', 'jwt']);
    assert.equal(set.code, 0, set.stderr);
    const app = await appToken('custom');
    assert.equal(String(app.body.access_token).split('.').length, 3);
    assert.equal(app.body.expires_in, 45, 'the lifetime still applies');
  });

  it('a negative lifetime stored without permission falls back to the default', async () => {
    await server.stepgate.clients.update('sneaky', { grantTypes: grants, settings: { userTokenTtl: -1, appTokenTtl: -5 } });
    assert.equal((await userToken('sneaky')).body.expires_in, 3600);
    assert.equal((await appToken('sneaky')).body.expires_in, 3600);
  });

  it('a token is active until the last second of its lifetime and inactive from exp on (clock set, no waiting)', async () => {
    await server.stepgate.clients.update('brief', { grantTypes: grants, settings: { userTokenTtl: 60, appTokenTtl: 30 } });
    const user = await userToken('brief');
    const app = await appToken('brief');
    const userExp = Number((await introspect(server, 'brief', String(user.body.access_token))).exp);
    const appExp = Number((await introspect(server, 'brief', String(app.body.access_token))).exp);
    try {
      setClock(userExp - 1);
      assert.equal((await introspect(server, 'brief', String(user.body.access_token))).active, true, 'one second before exp');
      setClock(userExp);
      assert.equal((await introspect(server, 'brief', String(user.body.access_token))).active, false, 'at exp');
      setClock(appExp - 1);
      assert.equal((await introspect(server, 'brief', String(app.body.access_token))).active, true);
      setClock(appExp);
      assert.equal((await introspect(server, 'brief', String(app.body.access_token))).active, false);
    } finally {
      restoreClock();
    }
  });
});
