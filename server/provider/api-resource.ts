import Provider, { errors, type Configuration, type KoaContextWithOIDC, type ResourceServerInstance } from 'oidc-provider';
import { apiScopesOf } from '../grants/scopes.ts';
import { metadataOf } from './client-metadata.ts';

type ResourceIndicators = NonNullable<NonNullable<Configuration['features']>['resourceIndicators']>;

/**
 * oidc-provider carries scopes other than OpenID's on tokens for a resource server
 * (RFC 8707). Application tokens (client_credentials) are for the APIs behind stepgate:
 * they are issued for one resource, `<issuer>/api`, whose scopes are the client's
 * registered API scopes (`stepgate client update --scopes`). They are opaque (revocable,
 * introspected) unless the client's application tokens are JWTs (`--app-token-format jwt`,
 * RFC 9068: validated locally against /jwks, not revocable). A client whose user tokens are
 * JWTs (settings.userTokenFormat) gets its code and refresh access tokens for that same
 * resource, as RFC 9068 JWTs carrying the user as `sub`; such a token opens the APIs, not
 * /userinfo (the id_token carries the claims). No other resource is known.
 */
export function apiResource(issuer: string): ResourceIndicators {
  const identifier = `${issuer}/api`;
  return {
    enabled: true,
    // application tokens always; user tokens (code, refresh) when the client's user tokens are JWTs
    async defaultResource(ctx, client) {
      if (ctx.oidc.params?.grant_type === 'client_credentials') return identifier;
      return client && metadataOf(client).user_token_format === 'jwt' ? identifier : undefined;
    },
    // a code or refresh token granted for the API is redeemed for it (else for /userinfo)
    async useGrantedResource(ctx) {
      return ctx.oidc.client !== undefined && metadataOf(ctx.oidc.client).user_token_format === 'jwt';
    },
    async getResourceServerInfo(ctx, resource, client) {
      if (resource !== identifier) throw new errors.InvalidTarget(`the only resource is ${identifier}`);
      const setting = ctx.oidc.params?.grant_type === 'client_credentials' ? 'app_token_format' : 'user_token_format';
      const format = metadataOf(client)[setting] === 'jwt' ? 'jwt' : 'opaque';
      return { scope: apiScopesOf(client).join(' '), audience: identifier, accessTokenFormat: format };
    },
  };
}

/**
 * For the custom user grants (password, SAML2 bearer: server/grants/issue-user-tokens.ts):
 * the API resource server their access token is for when the client's user tokens are JWTs,
 * as the code flow's defaultResource above resolves it; undefined for opaque user tokens.
 * The resource server is oidc-provider's own (configured by getResourceServerInfo above), so
 * the token is formatted and signed by oidc-provider as in the code flow.
 */
export async function userTokenResourceServer(ctx: KoaContextWithOIDC): Promise<ResourceServerInstance | undefined> {
  const client = ctx.oidc.client!;
  if (metadataOf(client).user_token_format !== 'jwt') return undefined;
  const provider: Provider = ctx.oidc.provider;
  const resources = apiResource(provider.issuer);
  const identifier = await resources.defaultResource!(ctx, client);
  if (typeof identifier !== 'string') return undefined;
  return new provider.ResourceServer(identifier, await resources.getResourceServerInfo!(ctx, identifier, client));
}
