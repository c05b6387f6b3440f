import type Provider from 'oidc-provider';
import type { Context } from 'koa';
import type { Users, User } from '../storage/users.ts';
import type { Clients } from '../storage/clients.ts';
import type { AdminSessions, AdminSession } from './sessions.ts';

export const ADMIN_ROLE = 'admin';
export const ADMIN_SCOPE = 'admin';

/** Who is calling the admin API or console. */
export type Principal =
  | { kind: 'session'; user: User; session: AdminSession; actor: string }
  | { kind: 'token'; actor: string };

export type Refusal = { status: 401 | 403; code: string; message: string };

export const isAdmin = (user: User | undefined): boolean => Boolean(user && !user.disabled && user.roles.includes(ADMIN_ROLE));

/**
 * Resolves the caller: a bearer access token issued by this broker, or the console's
 * session cookie. A token must carry the `admin` scope and be issued to a client whose
 * settings allow the admin API; a user token also needs an account with the admin role. Tokens are looked up through oidc-provider, so expiry and
 * revocation are its own rules.
 */
export async function resolvePrincipal(ctx: Context, deps: { provider: Provider; users: Users; clients: Clients; sessions: AdminSessions }): Promise<Principal | Refusal> {
  const authorization = ctx.get('authorization');
  if (authorization) {
    const match = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/i.exec(authorization);
    if (!match) return { status: 401, code: 'invalid_token', message: 'Authorization must be "Bearer <access token>"' };
    const value = match[1]!;
    const token = (await deps.provider.AccessToken.find(value)) ?? (await deps.provider.ClientCredentials.find(value));
    if (!token || token.isExpired) return { status: 401, code: 'invalid_token', message: 'the access token is unknown, expired or revoked' };
    const scopes = new Set((token.scope ?? '').split(' '));
    if (!scopes.has(ADMIN_SCOPE)) return { status: 403, code: 'insufficient_scope', message: 'the access token lacks the "admin" scope' };
    // Any client may ask for the scope; only those an admin marked admin_api have their
    // tokens accepted, so a third-party app cannot talk an admin into handing it the API.
    const client = await deps.clients.get(token.clientId!);
    if (!(client?.settings as { adminApi?: boolean } | undefined)?.adminApi) {
      return { status: 403, code: 'forbidden', message: `client "${token.clientId}" is not allowed to use the admin API` };
    }
    const accountId = 'accountId' in token ? token.accountId : undefined;
    if (accountId) {
      if (!isAdmin(await deps.users.byId(accountId))) return { status: 403, code: 'forbidden', message: 'this account does not have the admin role' };
      return { kind: 'token', actor: `user:${accountId}` };
    }
    return { kind: 'token', actor: `api:${token.clientId}` };
  }
  const session = await deps.sessions.current(ctx);
  if (!session) return { status: 401, code: 'unauthenticated', message: 'sign in to the console or send a bearer access token with the "admin" scope' };
  const user = await deps.users.byId(session.userId);
  // The role is checked on every request: removing it (or disabling the account) takes effect at once.
  if (!user || !isAdmin(user)) return { status: 403, code: 'forbidden', message: 'this account does not have the admin role' };
  return { kind: 'session', user, session, actor: `user:${user.id}` };
}
