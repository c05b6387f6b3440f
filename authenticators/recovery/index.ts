import type { Authenticator, StepContext, StepResult } from '../../server/flow/contract.ts';
import type { Credentials } from '../../server/storage/credentials.ts';
import type { Audit } from '../../server/audit/index.ts';
import type { Mailer } from '../../server/mail/index.ts';
import { Lockout } from '../../server/security/lockout.ts';
import { lockedMessage } from '../password/index.ts';

const VIEW = 'authenticators/recovery/views/form';
const INVALID = { code: 'invalid_code', message: 'That recovery code is not right, or was already used. Each code works once.' };

/**
 * Recovery codes: the way back in after losing the phone or the security key. Ten codes,
 * given at the first second-factor enrolment (or by an admin), each accepted once — spent
 * by a conditional DELETE, so two racing requests cannot both use one. A wrong code counts
 * toward the same lockout as a wrong TOTP code; a used code is audited with how many are left.
 */
export function createRecoveryAuthenticator(deps: { credentials: Credentials; lockout: Lockout; audit: Audit; mail?: Mailer }): Authenticator {
  const { credentials, lockout, audit, mail } = deps;
  return {
    id: 'recovery',
    label: 'Recovery code',
    requiresUser: true,
    // A one-time code, held like a key (NIST SP 800-63B "look-up secret"): a possession factor.
    amr: ['otp'],

    async configuredFor(accountId) {
      return (await credentials.recoveryLeft(accountId)) > 0;
    },

    async start(): Promise<StepResult> {
      return { kind: 'challenge', view: VIEW };
    },

    async resume(step: StepContext): Promise<StepResult> {
      const accountId = step.accountId;
      if (!accountId) return { kind: 'failure', error: { code: 'no_subject', message: 'Start again from the first step.' } };
      const code = (step.input.code ?? '').slice(0, 64);
      if (code.trim() === '') return { kind: 'failure', error: { code: 'missing_input', message: 'Enter one of your recovery codes.' }, view: VIEW };

      const keys = Lockout.keys('otp', accountId, step.clientAddress);
      const decision = await lockout.attempt(keys);
      if (!decision.allowed) return { kind: 'failure', error: lockedMessage(decision.retryAfterSeconds), view: VIEW };
      if (!(await credentials.useRecoveryCode(accountId, code))) {
        await lockout.failed(keys);
        return { kind: 'failure', error: INVALID, view: VIEW };
      }
      await lockout.succeeded(keys);
      const left = await credentials.recoveryLeft(accountId);
      await audit.record({ kind: 'auth.recovery_code.used', subject: accountId, address: step.clientAddress, details: { left } });
      await mail?.notify(accountId, 'recovery_code_used');
      return { kind: 'success', accountId, amr: ['otp'] };
    },
  };
}
