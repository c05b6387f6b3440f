import type { Account, KoaContextWithOIDC } from 'oidc-provider';
import type { Users } from '../storage/users.ts';
import type { ChainRunner } from '../flow/runner.ts';
import { invalidGrant } from '../grants/errors.ts';

/**
 * oidc-provider's view of our users: a disabled or deleted user is no account. Given the
 * runner, it is also where a refresh is checked against the client's *current* chain
 * (oidc-provider looks the account up with the refresh token in hand before minting).
 * `email_verified` is true only after the user followed a link mailed to that address.
 */
export function findAccountIn(users: Users, runner?: ChainRunner) {
  return async function findAccount(_ctx: KoaContextWithOIDC, sub: string, token?: unknown): Promise<Account | undefined> {
    const user = await users.byId(sub);
    if (!user || user.disabled) return undefined;
    const refresh = token as { kind?: string; clientId?: string; acr?: string; amr?: string[]; authTime?: number; gty?: string } | undefined;
    if (runner && refresh?.kind === 'RefreshToken' && refresh.clientId) {
      const refused = await runner.refreshAllowed(refresh.clientId, { accountId: sub, acr: refresh.acr, amr: refresh.amr, authTime: refresh.authTime, gty: refresh.gty });
      if (refused) throw invalidGrant(`${refused}: sign in again`);
    }
    return {
      accountId: user.id,
      async claims() {
        return { sub: user.id, preferred_username: user.username, name: user.username, ...(user.email ? { email: user.email, email_verified: user.emailVerified } : {}) };
      },
    };
  };
}
