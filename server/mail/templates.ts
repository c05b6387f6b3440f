/**
 * Every mail stepgate sends, as small functions returning its subject, text and HTML. Each
 * says who sends it (the broker's name), what happened, and what to do if it was not you.
 */
import type { Mail } from './transport.ts';

/** The security notices a user receives (and cannot turn off). */
export type SecurityEvent =
  | 'password_changed' | 'password_reset' | 'factor_added' | 'factor_removed'
  | 'recovery_code_used' | 'new_remembered_device' | 'lockout' | 'email_changed';

/** What a notice may mention; nothing secret ever goes in here. */
export type EventDetails = { factor?: string; device?: string; address?: string; newAddress?: string; minutes?: number };

type Content = { subject: string; lines: string[]; link?: { href: string; label: string }; code?: string; notYou: string };

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

function compose(to: string, broker: string, c: Content): Mail {
  const text = [
    ...c.lines,
    ...(c.code ? ['', `    ${c.code}`, ''] : []),
    ...(c.link ? ['', `${c.link.label}:`, c.link.href, ''] : []),
    '',
    `If this was not you: ${c.notYou}`,
    '',
    `— ${broker}`,
  ].join('\n');
  const html = `<!doctype html><html><body style="font-family:sans-serif">
${c.lines.map((l) => `<p>${escape(l)}</p>`).join('\n')}
${c.code ? `<p style="font-size:1.6em;letter-spacing:.2em"><strong>${escape(c.code)}</strong></p>` : ''}
${c.link ? `<p><a href="${escape(c.link.href)}">${escape(c.link.label)}</a></p><p style="font-size:.9em">${escape(c.link.href)}</p>` : ''}
<p><strong>If this was not you:</strong> ${escape(c.notYou)}</p>
<p>— ${escape(broker)}</p>
</body></html>`;
  return { to, subject: `[${broker}] ${c.subject}`, text, html };
}

const SECURE_ACCOUNT = 'sign in and change your password now, and tell your administrator.';

export function verificationMail(to: string, broker: string, username: string, href: string, hours: number): Mail {
  return compose(to, broker, {
    subject: 'Confirm your email address',
    lines: [`Someone asked to use this address for the account "${username}" at ${broker}.`, `Open the link below within ${hours} hours to confirm it. The link works once.`],
    link: { href, label: 'Confirm this address' },
    notYou: 'ignore this mail; the address will not be used.',
  });
}

export function codeMail(to: string, broker: string, username: string, code: string, minutes: number): Mail {
  return compose(to, broker, {
    subject: 'Your sign-in code',
    lines: [`Someone is signing in to the account "${username}" at ${broker} and asked for a code by email.`, `Enter this code on the sign-in page. It is valid for ${minutes} minutes and works once.`],
    code,
    notYou: `do not give this code to anyone; someone knows your password — ${SECURE_ACCOUNT}`,
  });
}

export function resetMail(to: string, broker: string, username: string, href: string, minutes: number): Mail {
  return compose(to, broker, {
    subject: 'Reset your password',
    lines: [`Someone asked to reset the password of the account "${username}" at ${broker}.`, `Open the link below within ${minutes} minutes to choose a new password. The link works once.`],
    link: { href, label: 'Choose a new password' },
    notYou: 'ignore this mail; your password stays as it is. If you get many of these, tell your administrator.',
  });
}

const NOTICES: Record<SecurityEvent, (d: EventDetails) => { subject: string; happened: string }> = {
  password_changed: () => ({ subject: 'Your password was changed', happened: 'The password of your account was changed.' }),
  password_reset: () => ({ subject: 'Your password was reset', happened: 'The password of your account was reset with a link sent to this address. Every session and remembered device of the account was signed out.' }),
  factor_added: (d) => ({ subject: 'A sign-in method was added', happened: `A sign-in method was added to your account${d.factor ? `: ${d.factor}` : ''}.` }),
  factor_removed: (d) => ({ subject: 'A sign-in method was removed', happened: `A sign-in method was removed from your account${d.factor ? `: ${d.factor}` : ''}.` }),
  recovery_code_used: () => ({ subject: 'A recovery code was used', happened: 'One of your recovery codes was used to sign in. It cannot be used again.' }),
  new_remembered_device: (d) => ({ subject: 'A new device is remembered', happened: `A new browser or device will be remembered for your account${d.device ? ` (${d.device})` : ''}.` }),
  lockout: (d) => ({ subject: 'Sign-in to your account is paused', happened: `Too many wrong attempts were made to sign in to your account, so sign-in is paused${d.minutes ? ` for ${d.minutes} minute${d.minutes === 1 ? '' : 's'}` : ''}.` }),
  email_changed: (d) => ({ subject: 'Your email address was changed', happened: `The email address of your account was changed${d.newAddress ? ` to ${d.newAddress}` : ''}. This address will no longer receive its mail.` }),
};

export function noticeMail(to: string, broker: string, username: string, event: SecurityEvent, details: EventDetails): Mail {
  const { subject, happened } = NOTICES[event](details);
  return compose(to, broker, {
    subject,
    lines: [`Security notice for the account "${username}" at ${broker}.`, happened, `When: ${new Date().toUTCString()}${details.address ? `, from the network address ${details.address}` : ''}.`],
    notYou: SECURE_ACCOUNT,
  });
}
