import type { Account, KoaContextWithOIDC } from 'oidc-provider';
import type { Users } from '../storage/users.ts';

/**
 * oidc-provider's view of our users: a disabled or deleted user is no account.
 * `email_verified` is true only after the user followed a link mailed to that address.
 */
export function findAccountIn(users: Users) {
  return async function findAccount(_ctx: KoaContextWithOIDC, sub: string): Promise<Account | undefined> {
    const user = await users.byId(sub);
    if (!user || user.disabled) return undefined;
    return {
      accountId: user.id,
      async claims() {
        return { sub: user.id, preferred_username: user.username, name: user.username, ...(user.email ? { email: user.email, email_verified: user.emailVerified } : {}) };
      },
    };
  };
}
