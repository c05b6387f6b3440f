import type { Configuration, KoaContextWithOIDC } from 'oidc-provider';
import type { Next } from 'koa';

type Introspection = NonNullable<NonNullable<Configuration['features']>['introspection']>;

/**
 * RFC 7662 introspection. Resource servers (confidential clients) may introspect any
 * access token; a public client only its own. A refresh token is active only to the
 * client it was issued to: to a gateway it is no credential, and must not look like one
 * (Apache's mod_auth_openidc and mod_oauth2 check `active` alone).
 */
export const introspection = {
  enabled: true,
  async allowedPolicy(_ctx, client, token) {
    if (token.clientId === client.clientId) return true;
    return token.kind !== 'RefreshToken' && client.clientAuthMethod !== 'none';
  },
} satisfies Introspection;

/**
 * oidc-provider leaves `token_type` out of an active refresh token's answer (RFC 7662
 * defines it for access tokens). We name it, so that no active answer lacks a type and a
 * reader checking `token_type` can tell the two apart: `Bearer` or `DPoP` for access
 * tokens, `refresh_token` for refresh tokens.
 */
export async function nameRefreshTokenType(ctx: KoaContextWithOIDC, next: Next): Promise<void> {
  await next();
  const body = ctx.body as Record<string, unknown> | undefined;
  if (ctx.oidc?.route === 'introspection' && body?.active === true && body.token_type === undefined && ctx.oidc.entities.RefreshToken) {
    body.token_type = 'refresh_token';
  }
}
