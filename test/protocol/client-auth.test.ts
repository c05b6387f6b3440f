import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import * as oidc from 'openid-client';
import { exportJWK, generateKeyPair } from 'jose';
import { startStepgate, type TestServer } from '../support/server.ts';
import { addClient } from '../support/fixtures.ts';
import type { ClientSettings } from '../../server/storage/clients.ts';
import { runCli } from '../support/process.ts';
import { Manage } from '../../server/manage/index.ts';

/**
 * Every client authentication method discovery lists works for a client registered with
 * it, through openid-client, and only for that client.
 */
describe('protocol: client authentication methods', function () {
  this.timeout(30_000);
  let server: TestServer;
  let keysServer: Server;
  let keysUrl: string;
  let inlineKey: CryptoKey;
  let remoteKey: CryptoKey;

  const register = async (clientId: string, settings: ClientSettings, secret?: string | null) => {
    await addClient(server, clientId, 'password', { grants: ['client_credentials'], ...(secret !== undefined ? { secret } : {}) });
    const current = (await server.stepgate.clients.get(clientId))!;
    await server.stepgate.clients.update(clientId, { grantTypes: current.grantTypes, settings: { ...current.settings, ...settings } });
  };
  const appToken = async (clientId: string, secret: string | undefined, auth: oidc.ClientAuth) => {
    const rp = await oidc.discovery(new URL(server.issuer), clientId, secret, auth, { execute: [oidc.allowInsecureRequests] });
    return oidc.clientCredentialsGrant(rp);
  };

  before(async () => {
    server = await startStepgate();
    const inline = await generateKeyPair('ES256', { extractable: true });
    const remote = await generateKeyPair('RS256', { extractable: true });
    inlineKey = inline.privateKey;
    remoteKey = remote.privateKey;
    const remoteJwks = JSON.stringify({ keys: [{ ...(await exportJWK(remote.publicKey)), alg: 'RS256', use: 'sig' }] });
    keysServer = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(remoteJwks));
    await new Promise<void>((resolve) => keysServer.listen(0, '127.0.0.1', resolve));
    keysUrl = `http://127.0.0.1:${(keysServer.address() as { port: number }).port}/jwks.json`;

    await register('basic', {});
    await register('post', { tokenEndpointAuthMethod: 'client_secret_post' });
    await register('hmac', { tokenEndpointAuthMethod: 'client_secret_jwt' });
    await register('signed', { tokenEndpointAuthMethod: 'private_key_jwt', jwks: { keys: [{ ...(await exportJWK(inline.publicKey)), alg: 'ES256', use: 'sig' }] } }, null);
    await register('signed-remote', { tokenEndpointAuthMethod: 'private_key_jwt', jwksUri: keysUrl, allowPrivateNetwork: true }, null);
    await register('signed-private', { tokenEndpointAuthMethod: 'private_key_jwt', jwksUri: `${keysUrl}?not-allowed` }, null);
  });
  after(async () => {
    await server.stop();
    keysServer.close();
  });

  it('discovery lists exactly the methods a client can be registered with', async () => {
    const meta = await (await fetch(`${server.issuer}/.well-known/openid-configuration`)).json() as Record<string, string[]>;
    assert.deepEqual([...meta.token_endpoint_auth_methods_supported!].sort(), ['client_secret_basic', 'client_secret_jwt', 'client_secret_post', 'none', 'private_key_jwt']);
  });

  it('client_secret_basic (the default)', async () => {
    assert.ok((await appToken('basic', 'basic-secret-0123456789', oidc.ClientSecretBasic('basic-secret-0123456789'))).access_token);
  });

  it('client_secret_post', async () => {
    assert.ok((await appToken('post', 'post-secret-0123456789', oidc.ClientSecretPost('post-secret-0123456789'))).access_token);
  });

  it('client_secret_jwt (HS256 assertion keyed by the secret)', async () => {
    assert.ok((await appToken('hmac', 'hmac-secret-0123456789', oidc.ClientSecretJwt('hmac-secret-0123456789'))).access_token);
  });

  it('private_key_jwt with the client\'s keys registered inline (jwks)', async () => {
    assert.ok((await appToken('signed', undefined, oidc.PrivateKeyJwt(inlineKey))).access_token);
  });

  it('private_key_jwt with the client\'s keys fetched from its jwks_uri', async () => {
    assert.ok((await appToken('signed-remote', undefined, oidc.PrivateKeyJwt(remoteKey))).access_token);
  });

  it('a client is held to its registered method (basic and post count as one): others are refused with invalid_client', async () => {
    const refused = async (clientId: string, secret: string | undefined, auth: oidc.ClientAuth) => {
      // openid-client reads the error from the body, or from WWW-Authenticate on a 401 to Basic
      await assert.rejects(appToken(clientId, secret, auth), (err: { error?: string; cause?: { parameters?: { error?: string } }[] }) =>
        (err.error ?? err.cause?.[0]?.parameters?.error) === 'invalid_client');
    };
    await refused('hmac', 'hmac-secret-0123456789', oidc.ClientSecretBasic('hmac-secret-0123456789'));
    await refused('basic', 'basic-secret-0123456789', oidc.ClientSecretJwt('basic-secret-0123456789'));
    await refused('signed', undefined, oidc.PrivateKeyJwt(remoteKey));
    await refused('signed-remote', undefined, oidc.PrivateKeyJwt(inlineKey));
    // its keys are on loopback, and it is not allowed private networks: the outbound policy refuses the fetch
    await refused('signed-private', undefined, oidc.PrivateKeyJwt(remoteKey));
    await refused('hmac', 'hmac-secret-0123456789', oidc.ClientSecretJwt('not-the-secret-000000000'));
  });

  it('the method and keys are set through the management service, which refuses combinations that cannot work; the CLI door too', async function () {
    this.timeout(180_000); // a CLI process on a loaded machine
    await register('cli-signed', {});
    const manage = new Manage(server.stepgate);
    const by = { actor: 'test', address: null };
    const jwks = { keys: [{ ...(await exportJWK((await generateKeyPair('ES256', { extractable: true })).publicKey)) }] };
    await assert.rejects(manage.clients.update('cli-signed', { token_endpoint_auth_method: 'private_key_jwt' }, by), /jwks or jwks_uri/);
    await assert.rejects(manage.clients.update('cli-signed', { jwks, jwks_uri: keysUrl }, by), /not both/);
    // no deadline of its own: on a loaded machine a CLI process can take long to start
    const set = await runCli(['client', 'update', 'cli-signed', '--token-endpoint-auth-method', 'private_key_jwt', '--jwks-uri', keysUrl, '--allow-private-network', '--json'], {
      DATABASE_URL: server.config.databaseUrl, STEPGATE_SECRET_KEYS: server.config.secretKeys.join(','), STEPGATE_DATA_DIR: server.dir, STEPGATE_DEMO: '0',
    });
    assert.equal(set.code, 0, set.stderr);
    assert.equal(JSON.parse(set.stdout).token_endpoint_auth_method, 'private_key_jwt');
    assert.ok((await appToken('cli-signed', undefined, oidc.PrivateKeyJwt(remoteKey))).access_token);
  });
});
