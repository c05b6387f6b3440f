import { generateKeyPair, exportJWK } from 'jose';
import Provider, { type Configuration } from 'oidc-provider';
import { answerParent } from './ipc.ts';
import { minting } from './mint.ts';
import { BENCH_CLIENT } from './client.ts';

/**
 * The baseline: oidc-provider with its in-memory adapter and one confidential client,
 * configured like stepgate where it changes the work per request (RS256 id_tokens,
 * rotating refresh tokens, introspection, client_secret_basic).
 */

// oidc-provider's own in-memory adapter, with its LRU store sized for the benchmark: at
// the default 1000 entries, pre-minted codes would be evicted before they are redeemed.
const { default: MemoryAdapter } = await import('oidc-provider/lib/adapters/memory_adapter.js' as string);
const { default: LRU } = await import('oidc-provider/lib/helpers/lru.js' as string);
const store = new LRU({ maxSize: 500_000 });
class BenchMemoryAdapter extends MemoryAdapter {
  constructor(model: string) {
    super(model, store);
  }
}

const { privateKey } = await generateKeyPair('RS256', { extractable: true });
const provider = new Provider('http://127.0.0.1', {
  adapter: BenchMemoryAdapter as unknown as NonNullable<Configuration['adapter']>,
  jwks: { keys: [{ ...(await exportJWK(privateKey)), alg: 'RS256', use: 'sig' }] },
  clients: [{
    client_id: BENCH_CLIENT.clientId, client_secret: BENCH_CLIENT.secret, redirect_uris: [BENCH_CLIENT.redirectUri],
    grant_types: ['authorization_code', 'refresh_token', 'client_credentials'], response_types: ['code'], token_endpoint_auth_method: 'client_secret_basic',
  }],
  routes: { token: '/token', introspection: '/introspect' },
  responseTypes: ['code'],
  scopes: ['openid', 'offline_access'],
  features: { devInteractions: { enabled: false }, clientCredentials: { enabled: true }, introspection: { enabled: true }, revocation: { enabled: true } },
  async issueRefreshToken(_ctx, client) {
    return client.grantTypeAllowed('refresh_token');
  },
  rotateRefreshToken: true,
});
const server = provider.listen(0, '127.0.0.1', () => {
  const mint = minting(provider, BENCH_CLIENT.clientId, BENCH_CLIENT.redirectUri);
  answerParent((server.address() as { port: number }).port, { codes: mint.codes, refreshTokens: mint.refreshTokens });
});
