import type { Authenticator, StepContext, StepResult } from '../../server/flow/contract.ts';
import type { Users, User } from '../../server/storage/users.ts';
import type { Mailer } from '../../server/mail/index.ts';
import { codeMail } from '../../server/mail/templates.ts';
import { Lockout } from '../../server/security/lockout.ts';
import { lockedMessage } from '../password/index.ts';

const VIEW = 'authenticators/email/views/form';
/** Minutes a code is valid. */
export const CODE_MINUTES = 10;
/** Resends: one per 30 s, five per hour, per account and per address. */
export const CODE_LIMIT = { minIntervalSeconds: 30, perHour: 5 };

// Other languages translate by code; i18next's `context` picks this authenticator's wording
// (errors.invalid_code_email) where the code is shared with TOTP, so metrics keep one reason.
const INVALID = { code: 'invalid_code', message: 'That code is not right. Enter the 6-digit code from the email we sent you.', params: { context: 'email' } };
const DEAD = { code: 'code_expired', message: 'This code has expired, was already used or was tried too often. Send a new code.' };
const NO_ADDRESS = { code: 'not_enrolled', message: 'This account has no verified email address.', params: { context: 'email' } };

/** "a****@example.org": enough to recognise the address, not to learn it. */
export function maskAddress(email: string): string {
  const [local = '', domain = ''] = email.split('@');
  return `${local.slice(0, 1)}${'*'.repeat(Math.max(3, local.length - 1))}@${domain}`;
}

/**
 * A 6-digit code mailed to the account's verified address (a later step: the user is
 * known). amr `otp`: RFC 8176 has no value for email; an emailed code is a one-time
 * password delivered out of band. The code is stored only as an HMAC, valid 10 minutes,
 * used once, dead after 5 tries; wrong codes count toward the same lockout as TOTP.
 * The password grant cannot feed it, so a step only it satisfies "needs a browser".
 */
export function createEmailAuthenticator(deps: { users: Users; lockout: Lockout; mail: Mailer }): Authenticator {
  const { users, lockout, mail } = deps;

  async function verifiedUser(accountId: string | undefined): Promise<(User & { email: string }) | undefined> {
    const user = accountId ? await users.byId(accountId) : undefined;
    return user?.email && user.emailVerified && !user.disabled ? user as User & { email: string } : undefined;
  }

  /** Mails a new code if the limits allow; the challenge id stays in the step's server-side state. */
  async function send(step: StepContext, user: User & { email: string }): Promise<StepResult> {
    const locals = { address: maskAddress(user.email) };
    const allowed = await mail.limits.take([`code:account:${user.id}`, `code:address:${user.email.toLowerCase()}`], CODE_LIMIT);
    if (!allowed.allowed) {
      const wait = allowed.retryAfterSeconds;
      const when = wait < 120 ? `${wait} seconds` : `${Math.ceil(wait / 60)} minutes`;
      return { kind: 'failure', error: { code: 'resend_limited', message: `A code was sent recently. Check your mail, or ask for a new code in ${when}.`, params: { count: Math.ceil(wait / 60) } }, view: VIEW, locals };
    }
    const { challenge, code } = await mail.tokens.issueCode({ accountId: user.id, email: user.email, ttl: CODE_MINUTES * 60 });
    step.state.challenge = challenge;
    mail.deliver(codeMail(await mail.speakerFor(user), user.email, mail.brokerName, user.username, code, CODE_MINUTES), 'email-code');
    return { kind: 'challenge', view: VIEW, locals: { ...locals, sent: true } };
  }

  return {
    id: 'email',
    label: 'Code by email',
    requiresUser: true,
    amr: ['otp'],

    async configuredFor(accountId) {
      return mail.enabled && (await verifiedUser(accountId)) !== undefined;
    },

    async start(step: StepContext): Promise<StepResult> {
      const user = await verifiedUser(step.accountId);
      if (!user || !mail.enabled) return { kind: 'failure', error: NO_ADDRESS };
      // A reload shows the form again; only the first visit (or "send a new code") mails.
      if (typeof step.state.challenge === 'string') return { kind: 'challenge', view: VIEW, locals: { address: maskAddress(user.email) } };
      return send(step, user);
    },

    async resume(step: StepContext): Promise<StepResult> {
      const user = await verifiedUser(step.accountId);
      if (!user || !mail.enabled) return { kind: 'failure', error: NO_ADDRESS };
      const locals = { address: maskAddress(user.email) };
      if (step.input.resend) return send(step, user);
      const code = (step.input.code ?? '').replace(/\s+/g, '');
      if (!/^\d{6}$/.test(code)) return { kind: 'failure', error: { code: 'missing_input', message: 'Enter the 6-digit code.', params: { context: 'code' } }, view: VIEW, locals };
      const challenge = step.state.challenge;
      if (typeof challenge !== 'string') return { kind: 'failure', error: DEAD, view: VIEW, locals };

      const keys = Lockout.keys('otp', user.id, step.clientAddress);
      const decision = await lockout.attempt(keys);
      if (!decision.allowed) return { kind: 'failure', error: lockedMessage(decision.retryAfterSeconds), view: VIEW, locals };
      const outcome = await mail.tokens.checkCode(challenge, user.id, code);
      if (outcome !== 'ok') {
        await lockout.failed(keys);
        return { kind: 'failure', error: outcome === 'wrong' ? INVALID : DEAD, view: VIEW, locals };
      }
      await lockout.succeeded(keys);
      return { kind: 'success', accountId: user.id, amr: ['otp'] };
    },
  };
}
