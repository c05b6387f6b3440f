import type { Authenticator, StepContext, StepResult } from '../../server/flow/contract.ts';
import type { Credentials } from '../../server/storage/credentials.ts';
import type { Users } from '../../server/storage/users.ts';
import { PasskeyCeremonies, PasskeyError } from './ceremony.ts';

const VIEW = 'authenticators/passkey/views/form';
const ENROL_VIEW = 'authenticators/passkey/views/enrol';

/**
 * Passkeys (WebAuthn). As a first step it identifies the user from a discoverable
 * credential (no username typed); later in a chain only the identified user's passkeys
 * are offered and accepted. The challenge lives in the login's server-side state and is
 * spent by the first answer, right or wrong: a failed attempt gets a new one.
 */
export function createPasskeyAuthenticator(deps: { credentials: Credentials; users: Users; ceremonies: PasskeyCeremonies }): Authenticator {
  const { credentials, users, ceremonies } = deps;

  async function challenge(step: StepContext, error?: { code: string; message: string }): Promise<StepResult> {
    const options = await ceremonies.authenticationOptions(step.accountId);
    step.state.challenge = options.challenge;
    const locals = { options: JSON.stringify(options), identified: step.accountId !== undefined };
    return error ? { kind: 'failure', error, view: VIEW, locals } : { kind: 'challenge', view: VIEW, locals };
  }

  async function registration(step: StepContext, error?: { code: string; message: string }): Promise<StepResult> {
    const user = step.accountId ? await users.byId(step.accountId) : undefined;
    if (!user) return { kind: 'failure', error: { code: 'no_subject', message: 'Start again from the first step.' } };
    const options = await ceremonies.registrationOptions(user);
    step.state.challenge = options.challenge;
    const locals = { options: JSON.stringify(options) };
    return error ? { kind: 'failure', error, view: ENROL_VIEW, locals } : { kind: 'challenge', view: ENROL_VIEW, locals };
  }

  return {
    id: 'passkey',
    label: 'Passkey',
    requiresUser: false,
    // What a use stands for when user verification is required; without it a use is "hwk" alone.
    amr: PasskeyCeremonies.amr(ceremonies.userVerificationRequired),

    async configuredFor(accountId) {
      return credentials.has(accountId, 'passkey');
    },

    start: (step) => challenge(step),

    // Registration during sign-in, for an account with no second factor yet.
    enrol: {
      start: (step) => registration(step),
      async finish(step: StepContext): Promise<StepResult> {
        const expected = step.state.challenge;
        delete step.state.challenge;
        const accountId = step.accountId;
        if (!accountId || typeof expected !== 'string') return registration(step, { code: 'expired', message: 'That passkey request expired. Try again.' });
        if (await credentials.hasSecondFactor(accountId)) {
          return { kind: 'failure', error: { code: 'already_enrolled', message: 'Your account already has a second factor, so a new one can only be added on your account page (/account).' } };
        }
        try {
          const { userVerified } = await ceremonies.register(accountId, step.input.response ?? '', expected, step.input.label ?? '');
          return { kind: 'success', accountId, amr: PasskeyCeremonies.amr(userVerified) };
        } catch (err) {
          if (!(err instanceof PasskeyError)) throw err;
          return registration(step, { code: 'passkey_refused', message: err.message });
        }
      },
    },

    async resume(step: StepContext): Promise<StepResult> {
      const expected = step.state.challenge;
      delete step.state.challenge;
      if (typeof expected !== 'string') return challenge(step, { code: 'expired', message: 'That passkey request expired. Try again.' });
      try {
        const { userId, userVerified } = await ceremonies.authenticate(step.input.response ?? '', expected, step.accountId);
        const user = await users.byId(userId);
        if (!user || user.disabled) return challenge(step, { code: 'account_disabled', message: 'This account is disabled.' });
        return { kind: 'success', accountId: userId, amr: PasskeyCeremonies.amr(userVerified) };
      } catch (err) {
        if (!(err instanceof PasskeyError)) throw err;
        return challenge(step, { code: 'passkey_refused', message: err.message });
      }
    },
  };
}
