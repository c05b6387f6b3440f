import { errors, type Configuration } from 'oidc-provider';
import { apiScopesOf } from '../grants/scopes.ts';
import { metadataOf } from './client-metadata.ts';

type ResourceIndicators = NonNullable<NonNullable<Configuration['features']>['resourceIndicators']>;

/**
 * oidc-provider carries scopes other than OpenID's on tokens for a resource server
 * (RFC 8707). Application tokens (client_credentials) are for the APIs behind stepgate:
 * they are issued for one resource, `<issuer>/api`, whose scopes are the client's
 * registered API scopes (`stepgate client update --scopes`). They are opaque (revocable,
 * introspected) unless the client's application tokens are JWTs (`--app-token-format jwt`,
 * RFC 9068: validated locally against /jwks, not revocable). No other resource is known.
 */
export function apiResource(issuer: string): ResourceIndicators {
  const identifier = `${issuer}/api`;
  return {
    enabled: true,
    async defaultResource(ctx) {
      return ctx.oidc.params?.grant_type === 'client_credentials' ? identifier : undefined;
    },
    async useGrantedResource() {
      return false;
    },
    async getResourceServerInfo(_ctx, resource, client) {
      if (resource !== identifier) throw new errors.InvalidTarget(`the only resource is ${identifier}`);
      const format = metadataOf(client).app_token_format === 'jwt' ? 'jwt' : 'opaque';
      return { scope: apiScopesOf(client).join(' '), audience: identifier, accessTokenFormat: format };
    },
  };
}
