import { generateSecret, generateURI, verify } from 'otplib';
import type { StepContext, StepResult } from '../../server/flow/contract.ts';
import type { Credentials } from '../../server/storage/credentials.ts';
import type { Users } from '../../server/storage/users.ts';

const VIEW = 'authenticators/totp/views/enrol';

/**
 * A QR code of an otpauth:// URI as an SVG drawn on the server (no script, no external
 * image): the account page and the console show it. qrcode (and pngjs, which it loads)
 * is loaded at the first set-up, not by every process at start.
 */
export async function qrSvg(uri: string): Promise<string> {
  const { default: QRCode } = await import('qrcode');
  return QRCode.toString(uri, { type: 'svg', margin: 1, errorCorrectionLevel: 'M' });
}

/** The otpauth:// URI and its QR code. */
export async function totpSetup(username: string, secret: string): Promise<{ uri: string; qrSvg: string }> {
  const uri = generateURI({ issuer: 'stepgate', label: username, secret });
  return { uri, qrSvg: await qrSvg(uri) };
}

/** True when `code` is the current code (one step of drift either way) of a secret being set up. */
export async function confirmsSecret(secret: string, code: string): Promise<boolean> {
  const digits = code.replace(/\s+/g, '');
  if (!/^\d{6}$/.test(digits)) return false;
  return (await verify({ secret, token: digits, epochTolerance: 30 })).valid;
}

/**
 * Setting up TOTP during sign-in: a new secret (sealed in the login's state) shown as a QR
 * code and as text, confirmed by a valid code, stored only while the account has no second
 * factor. The confirming code proves possession, so it satisfies the step.
 */
export function totpEnrolment(deps: { credentials: Credentials; users: Users }) {
  const { credentials, users } = deps;

  async function page(step: StepContext, secret: string, error?: { code: string; message: string }): Promise<StepResult> {
    const user = await users.byId(step.accountId!);
    const locals = { ...(await totpSetup(user?.username ?? 'user', secret)), secret };
    return error ? { kind: 'failure', error, view: VIEW, locals } : { kind: 'challenge', view: VIEW, locals };
  }

  return {
    async start(step: StepContext): Promise<StepResult> {
      if (!step.accountId) return { kind: 'failure', error: { code: 'no_subject', message: 'Start again from the first step.' } };
      const secret = generateSecret();
      step.state.pending = credentials.sealPending(step.accountId, secret);
      return page(step, secret);
    },

    async finish(step: StepContext): Promise<StepResult> {
      const accountId = step.accountId;
      const secret = accountId && typeof step.state.pending === 'string' ? credentials.openPending(accountId, step.state.pending) : undefined;
      if (!accountId || !secret) return { kind: 'failure', error: { code: 'expired', message: 'This set-up expired. Start again from the application.' } };
      if (!(await confirmsSecret(secret, step.input.code ?? ''))) {
        return page(step, secret, { code: 'invalid_code', message: 'That code is not right. Enter the 6-digit code your authenticator app shows now for this account.' });
      }
      if (!(await credentials.enrolFirstTotp(accountId, secret))) {
        return { kind: 'failure', error: { code: 'already_enrolled', message: 'Your account already has a second factor, so a new one can only be added on your account page (/account).' } };
      }
      delete step.state.pending;
      return { kind: 'success', accountId, amr: ['otp'] };
    },
  };
}
