import type Provider from 'oidc-provider';

/**
 * Codes and refresh tokens minted straight through oidc-provider's models (so through
 * whatever adapter the provider has), as a finished login would leave them: the code and
 * refresh scenarios then measure redemption alone.
 */
export function minting(provider: Provider, clientId: string, redirectUri: string) {
  async function grantFor(accountId: string) {
    const grant = new provider.Grant({ accountId, clientId });
    grant.addOIDCScope('openid offline_access');
    return grant.save();
  }

  return {
    async codes({ n, accountId }: Record<string, unknown>): Promise<string[]> {
      const client = (await provider.Client.find(clientId))!;
      const out: string[] = [];
      for (let i = 0; i < Number(n); i++) {
        const code = new provider.AuthorizationCode({
          accountId: String(accountId), grantId: await grantFor(String(accountId)), client, scope: 'openid offline_access',
          redirectUri, gty: 'authorization_code', authTime: Math.floor(Date.now() / 1000), acr: 'urn:stepgate:acr:multi-step', amr: ['pwd', 'otp', 'mfa'],
        });
        out.push(await code.save());
      }
      return out;
    },

    async refreshTokens({ n, accountId }: Record<string, unknown>): Promise<string[]> {
      const client = (await provider.Client.find(clientId))!;
      const out: string[] = [];
      for (let i = 0; i < Number(n); i++) {
        const token = new provider.RefreshToken({
          accountId: String(accountId), grantId: await grantFor(String(accountId)), client, scope: 'openid offline_access', gty: 'authorization_code',
          authTime: Math.floor(Date.now() / 1000), acr: 'urn:stepgate:acr:multi-step', amr: ['pwd', 'otp', 'mfa'],
        });
        out.push(await token.save());
      }
      return out;
    },
  };
}
