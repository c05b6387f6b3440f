import { verify } from 'otplib';
import type { Authenticator, StepContext, StepResult } from '../../server/flow/contract.ts';
import type { Credentials } from '../../server/storage/credentials.ts';
import { Lockout } from '../../server/security/lockout.ts';
import { lockedMessage } from '../password/index.ts';
import type { Users } from '../../server/storage/users.ts';
import { totpEnrolment } from './enrol.ts';

const VIEW = 'authenticators/totp/views/form';
const INVALID = { code: 'invalid_code', message: 'That code is not right. Enter the 6-digit code your authenticator app shows now.' };

/**
 * Time-based one-time passwords (RFC 6238): 30-second period, one step of clock drift
 * either way, and each code accepted once per user — the last used time step is kept
 * and advanced with a conditional update, so even racing requests cannot reuse a code.
 */
export function createTotpAuthenticator(deps: { credentials: Credentials; users: Users; lockout: Lockout }): Authenticator {
  const { credentials, lockout } = deps;
  return {
    id: 'totp',
    label: 'Authenticator app (TOTP)',
    requiresUser: true,
    amr: ['otp'],
    enrol: totpEnrolment(deps),

    async configuredFor(accountId) {
      return credentials.has(accountId, 'totp');
    },

    async start(): Promise<StepResult> {
      return { kind: 'challenge', view: VIEW };
    },

    async resume(step: StepContext): Promise<StepResult> {
      const accountId = step.accountId;
      if (!accountId) return { kind: 'failure', error: { code: 'no_subject', message: 'Start again from the first step.' } };
      const code = (step.input.code ?? '').replace(/\s+/g, '');
      if (!/^\d{6}$/.test(code)) return { kind: 'failure', error: { code: 'missing_input', message: 'Enter the 6-digit code.' }, view: VIEW };

      const keys = Lockout.keys('otp', accountId, step.clientAddress);
      const decision = await lockout.attempt(keys);
      if (!decision.allowed) return { kind: 'failure', error: lockedMessage(decision.retryAfterSeconds), view: VIEW };

      const enrolled = await credentials.totp(accountId);
      if (!enrolled) return { kind: 'failure', error: { code: 'not_enrolled', message: 'This account has no authenticator app enrolled. Ask your administrator.' } };
      let result: Awaited<ReturnType<typeof verify>>;
      try {
        result = await verify({ secret: enrolled.secret, token: code, epochTolerance: 30, ...(enrolled.lastStep === null ? {} : { afterTimeStep: enrolled.lastStep }) });
      } catch {
        // otplib throws when the last used step lies beyond the window (a clock set back):
        // no code can be accepted then, which is a wrong code, not a server error.
        await lockout.failed(keys);
        return { kind: 'failure', error: INVALID, view: VIEW };
      }
      // The time step a code belongs to is what makes it single-use.
      if (!result.valid || !('timeStep' in result) || !(await credentials.useTotpStep(accountId, result.timeStep))) {
        await lockout.failed(keys);
        return { kind: 'failure', error: INVALID, view: VIEW };
      }
      await lockout.succeeded(keys);
      return { kind: 'success', accountId, amr: ['otp'] };
    },
  };
}
