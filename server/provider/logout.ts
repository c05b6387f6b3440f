import type { EventEmitter } from 'node:events';
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { Logger } from '../logger.ts';

/** oidc-provider's routes of RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0). */
const LOGOUT_ROUTES = new Set(['end_session', 'end_session_confirm', 'end_session_success']);

export function isLogoutRoute(ctx: KoaContextWithOIDC): boolean {
  return LOGOUT_ROUTES.has(String(ctx.oidc?.route));
}

/**
 * A refused sign-out request, in sign-out words: oidc-provider's reason
 * (`error_description`) says which part of the request was wrong.
 */
export function explainLogoutError(error: string, description = ''): string {
  if (/post_logout_redirect_uri/.test(description)) {
    return 'The application asked to send you back, after signing out, to an address it has not registered for that. You have not been signed out.';
  }
  if (/id_token_hint/.test(description)) {
    return 'The application\'s sign-out request carried a proof of your sign-in that we could not check (it may be from another server or too old). You have not been signed out.';
  }
  if (/logout details|xsrf/.test(description)) {
    return 'This sign-out page has expired or was opened in another browser. You have not been signed out.';
  }
  if (error === 'invalid_client') return 'The application asking to sign you out is not registered here. You have not been signed out.';
  return 'The application sent a sign-out request we could not accept. You have not been signed out.';
}

/** What to do next after a refused sign-out: sign out here without the application. */
export function logoutHint(issuer: string): string {
  return `To sign out anyway, open ${issuer}/logout and confirm.`;
}

/**
 * Refused sign-out requests and failed back-channel logout deliveries, logged with
 * oidc-provider's reason so an operator can tell what the relying party got wrong.
 */
export function logLogoutEvents(provider: Provider, logger: Logger): void {
  const refused = (ctx: KoaContextWithOIDC, err: { error?: string; error_description?: string }) => {
    logger.warn({ route: ctx.oidc?.route, client_id: ctx.oidc?.client?.clientId ?? ctx.oidc?.params?.client_id, error: err.error, error_description: err.error_description }, 'sign-out refused');
  };
  // (the type definitions name only the first of these events)
  const emitter = provider as unknown as EventEmitter;
  for (const event of ['end_session.error', 'end_session_confirm.error', 'end_session_success.error']) emitter.on(event, refused);
  provider.on('backchannel.error', (_ctx: unknown, err: Error, client: { clientId: string }) => {
    logger.warn({ client_id: client.clientId, error: err.message }, 'back-channel logout not delivered');
  });
}
