import type { Authenticator, StepContext, StepResult } from '../../server/flow/contract.ts';
import type { Users } from '../../server/storage/users.ts';
import { normaliseUsername } from '../../server/storage/users.ts';
import type { Passwords } from '../../server/security/passwords.ts';
import { Lockout } from '../../server/security/lockout.ts';

const VIEW = 'authenticators/password/views/form';
/** One message for every wrong answer, so the form never tells which usernames exist. */
const INVALID = { code: 'invalid_credentials', message: 'That username and password do not match. Check them and try again.' };

export function lockedMessage(seconds: number) {
  const minutes = Math.ceil(seconds / 60);
  return { code: 'locked', message: `Too many attempts. Try again in ${minutes} minute${minutes === 1 ? '' : 's'}.`, params: { count: minutes } };
}

/**
 * Username and password, argon2id. Identifies the user when first in a chain; later in a
 * chain it must be the same user as before.
 */
export function createPasswordAuthenticator(deps: { users: Users; passwords: Passwords; lockout: Lockout; mail?: { enabled: boolean } }): Authenticator {
  const { users, passwords, lockout } = deps;
  /** "Forgot your password?" is offered only where a reset link can be mailed. */
  const forgot = () => (deps.mail?.enabled ? { forgotUrl: '/password/forgot' } : {});
  return {
    id: 'password',
    label: 'Password',
    requiresUser: false,
    amr: ['pwd'],

    // Later in a chain the user is known: only the password is asked, never the username again.
    async start(step: StepContext): Promise<StepResult> {
      const known = step.accountId === undefined ? undefined : await users.byId(step.accountId);
      return { kind: 'challenge', view: VIEW, locals: { ...forgot(), ...(known ? { username: known.username, known: true } : {}) } };
    },

    async resume(step: StepContext): Promise<StepResult> {
      const identified = step.accountId === undefined ? undefined : await users.byId(step.accountId);
      const username = identified ? identified.username : (step.input.username ?? '').slice(0, 256);
      const password = (step.input.password ?? '').slice(0, 1024);
      const locals = { username, known: identified !== undefined, ...forgot() };
      if (!username || !password) {
        return { kind: 'failure', error: { code: 'missing_input', message: 'Enter your username and password.' }, view: VIEW, locals };
      }
      const user = await users.byUsername(username);
      // Counted and audited as the account it names, or as a keyed hash when it names none
      // (it may be a password typed into the wrong field).
      const account = user ? normaliseUsername(username) : lockout.pseudonym(normaliseUsername(username));
      const known = step.device?.knows(account);
      const keys = known ? Lockout.deviceKeys('password', account, known) : Lockout.keys('password', account, step.clientAddress);
      const attempted = user?.id ?? account;
      const decision = await lockout.attempt(keys);
      if (!decision.allowed) return { kind: 'failure', error: lockedMessage(decision.retryAfterSeconds), view: VIEW, locals, attempted };

      const ok = await passwords.verify(user?.passwordHash, password);
      if (!ok || !user || user.disabled || (step.accountId !== undefined && step.accountId !== user.id)) {
        await lockout.failed(keys);
        return { kind: 'failure', error: INVALID, view: VIEW, locals, attempted };
      }
      await lockout.succeeded(keys);
      step.device?.remember(account);
      return { kind: 'success', accountId: user.id, amr: ['pwd'] };
    },
  };
}
