import type { Configuration } from 'oidc-provider';
import { metadataOf } from './client-metadata.ts';

/**
 * What "never expires" means (WSO2's negative validity period): a hundred years. oidc-provider
 * needs a positive lifetime, and this one outlives any deployment.
 */
export const NEVER_EXPIRES = 100 * 365 * 24 * 3600;

type ClientLike = { metadata(): Record<string, unknown> };

/**
 * Per-client token settings (API scopes, lifetimes, application token format) carried in the client's metadata (built from the clients
 * table's `settings` by the adapter), so oidc-provider's synchronous `ttl` functions can
 * read them.
 */
export const clientTokenMetadata: NonNullable<Configuration['extraClientMetadata']> = {
  properties: ['api_scopes', 'user_token_ttl', 'app_token_ttl', 'allow_non_expiring', 'app_token_format', 'saml_idps', 'logout_ends_grants', 'user_token_format'],
};

/**
 * The access token lifetime for `client`: its own setting for user tokens (code, password,
 * refresh, SAML2 bearer) or application tokens (client_credentials), else the default.
 * A negative setting means "never expires" only when the admin allowed it for that client;
 * otherwise the default applies.
 */
export default function tokenLifetime(client: ClientLike, kind: 'user' | 'app', fallback: number): number {
  const metadata = metadataOf(client);
  const value = metadata[kind === 'user' ? 'user_token_ttl' : 'app_token_ttl'];
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value === 0) return fallback;
  if (value > 0) return value;
  return metadata.allow_non_expiring === true ? NEVER_EXPIRES : fallback;
}
