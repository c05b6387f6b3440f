import { errors } from 'oidc-provider';

/**
 * `invalid_grant` with a description the client sees. oidc-provider's own InvalidGrant
 * always says "grant request is invalid"; the token API's refusals tell the client what
 * to do (use the code flow, send the TOTP code, the assertion expired).
 */
export default function invalidGrant(description: string): Error {
  return new errors.CustomOIDCProviderError('invalid_grant', description);
}
