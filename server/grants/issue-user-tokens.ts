import type Provider from 'oidc-provider';
import type { Account, KoaContextWithOIDC } from 'oidc-provider';
import type { LoginResult } from '../flow/runner.ts';

/**
 * Issues what a custom user grant (password, SAML2 bearer) answers with, the way
 * oidc-provider's own grants do: a Grant of its own (so each request — and so each
 * device_ scope — is a token family that `revokeByGrantId` removes alone), an access
 * token, a refresh token when the client may refresh (it carries acr/amr, so refreshed
 * ID Tokens keep them), and an ID Token carrying acr/amr when `openid` is granted.
 */
export default async function issueUserTokens(
  ctx: KoaContextWithOIDC,
  account: Account,
  login: LoginResult['login'],
  scopes: string[],
  gty: string,
): Promise<void> {
  const provider: Provider = ctx.oidc.provider;
  const client = ctx.oidc.client!;
  ctx.oidc.entity('Account', account);

  const scope = scopes.join(' ');
  const grant = new provider.Grant({ accountId: login.accountId, clientId: client.clientId });
  if (scope) grant.addOIDCScope(scope);
  const grantId = await grant.save();
  ctx.oidc.entity('Grant', grant);

  const at = new provider.AccessToken({ accountId: login.accountId, client, grantId, gty, scope: scope || undefined });
  ctx.oidc.entity('AccessToken', at);
  const accessToken = await at.save();

  let refreshToken: string | undefined;
  if (client.grantTypeAllowed('refresh_token')) {
    const rt = new provider.RefreshToken({
      accountId: login.accountId, acr: login.acr, amr: login.amr, authTime: login.ts,
      client, grantId, gty, rotations: 0, scope,
    });
    ctx.oidc.entity('RefreshToken', rt);
    refreshToken = await rt.save();
  }

  let idToken: string | undefined;
  if (scopes.includes('openid')) {
    const claims = await account.claims('id_token', scope, {}, []);
    const token = new provider.IdToken({ ...claims, acr: login.acr, amr: login.amr, auth_time: login.ts }, { ctx });
    (token as typeof token & { scope: string }).scope = scope;
    idToken = await token.issue({ use: 'idtoken' });
  }

  ctx.body = {
    access_token: accessToken,
    token_type: at.tokenType,
    expires_in: at.expiration,
    ...(refreshToken ? { refresh_token: refreshToken } : {}),
    ...(idToken ? { id_token: idToken } : {}),
    ...(scope ? { scope } : {}),
  };
}
