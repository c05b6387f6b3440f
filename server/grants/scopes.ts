import type { KoaContextWithOIDC } from 'oidc-provider';
import { metadataOf } from '../provider/client-metadata.ts';

/**
 * A per-device scope (WSO2 API Manager's convention): `device_` and a name. It needs no
 * registration, and every token request that carries one starts a token family of its
 * own, so one device's logout (revocation) leaves the others signed in.
 */
export const DEVICE_SCOPE = /^device_[A-Za-z0-9._-]{1,64}$/;

/** The OpenID Connect scopes the provider knows (its `scopes` configuration). */
export const OIDC_SCOPES = ['openid', 'offline_access', 'profile', 'email'];

/** The API scopes registered for a client (`stepgate client update --scopes`), from its metadata. */
export function apiScopesOf(client: { metadata(): Record<string, unknown> }): string[] {
  const value = metadataOf(client).api_scopes;
  return Array.isArray(value) ? value.filter((s): s is string => typeof s === 'string') : [];
}

/**
 * The scopes a user token is issued with: of those requested, the OpenID ones, the
 * client's registered API scopes and any device_ scope. Others are left out, as
 * RFC 6749 section 3.3 allows; the token response's `scope` says what was granted.
 */
export default function grantableScopes(ctx: KoaContextWithOIDC): string[] {
  const requested = String(ctx.oidc.params?.scope ?? '').split(' ').filter(Boolean);
  const api = new Set(apiScopesOf(ctx.oidc.client!));
  return [...new Set(requested)].filter((s) => OIDC_SCOPES.includes(s) || api.has(s) || DEVICE_SCOPE.test(s));
}
