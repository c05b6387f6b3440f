/** The OAuth errors the token API's custom grants answer with. */
import { errors } from 'oidc-provider';
import type { DirectOutcome } from '../flow/runner.ts';

/**
 * `invalid_grant` with a description the client sees. oidc-provider's own InvalidGrant
 * always says "grant request is invalid"; the token API's refusals tell the client what
 * to do (use the code flow, send the TOTP code, the assertion expired).
 */
export function invalidGrant(description: string): Error {
  return new errors.CustomOIDCProviderError('invalid_grant', description);
}

/** A refused non-interactive login, as the OAuth error a token endpoint answers with. */
export function refusal(outcome: Extract<DirectOutcome, { kind: 'refused' }>, grant: string): Error {
  switch (outcome.code) {
    case 'interactive_chain':
      return invalidGrant(`${outcome.message}; the ${grant} grant cannot satisfy it: use the authorization code flow (/authorize) in a browser`);
    case 'missing_input':
      return outcome.authenticator === 'totp'
        ? new errors.InvalidRequest('this client requires a TOTP code: send it in the "totp" parameter')
        : new errors.InvalidRequest(outcome.message);
    case 'unknown_client':
      return new errors.InvalidClient(outcome.message);
    default:
      return invalidGrant(outcome.message);
  }
}
