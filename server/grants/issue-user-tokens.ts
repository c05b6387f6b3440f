import type Provider from 'oidc-provider';
import type { Account, KoaContextWithOIDC } from 'oidc-provider';
import type { LoginResult } from '../flow/runner.ts';
import { userTokenResourceServer } from '../provider/api-resource.ts';

/**
 * Issues what a custom user grant (password, SAML2 bearer) answers with, the way
 * oidc-provider's own grants do: a Grant of its own (so each request — and so each
 * device_ scope — is a token family that `revokeByGrantId` removes alone), an access
 * token, a refresh token when the client may refresh (it carries acr/amr, so refreshed
 * ID Tokens keep them), and an ID Token carrying acr/amr when `openid` is granted.
 * The access token has the client's user token format: when those are JWTs (RFC 9068),
 * it is for the API resource server, as the code flow's is (server/provider/api-resource.ts):
 * its API scopes are granted for that resource, the refresh token remembers the resource
 * (so a refresh gives a JWT again), and oidc-provider formats and signs it.
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
  const api = await userTokenResourceServer(ctx);
  // with an API resource server: its scopes are granted for it, the others (openid,
  // device_ scopes) as OpenID scopes; without one, all as OpenID scopes (opaque tokens)
  const apiScope = api ? scopes.filter((s) => api.scopes.has(s)).join(' ') : '';
  const otherScope = api ? scopes.filter((s) => !api.scopes.has(s)).join(' ') : scope;
  const grant = new provider.Grant({ accountId: login.accountId, clientId: client.clientId });
  if (otherScope) grant.addOIDCScope(otherScope);
  if (api && apiScope) grant.addResourceScope(api.identifier(), apiScope);
  const grantId = await grant.save();
  ctx.oidc.entity('Grant', grant);

  const at = new provider.AccessToken({ accountId: login.accountId, client, grantId, gty, scope: (api ? apiScope : scope) || undefined });
  if (api) at.resourceServer = api;
  ctx.oidc.entity('AccessToken', at);
  const accessToken = await at.save();

  let refreshToken: string | undefined;
  if (client.grantTypeAllowed('refresh_token')) {
    const rt = new provider.RefreshToken({
      accountId: login.accountId, acr: login.acr, amr: login.amr, authTime: login.ts,
      client, grantId, gty, rotations: 0, scope, ...(api && { resource: api.identifier() }),
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
