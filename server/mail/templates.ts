/**
 * Every mail stepgate sends, as small functions returning its subject, text and HTML. Each
 * says who sends it (the broker's name), what happened, and what to do if it was not you.
 * The words come from the catalogues (locales/<language>.json, under "mail"), in the
 * recipient's language: see `Mailer.speakerFor`.
 */
import type { Mail } from './transport.ts';
import { translator, type Translate } from '../i18n/index.ts';

/** The security notices a user receives (and cannot turn off). */
export type SecurityEvent =
  | 'password_changed' | 'password_reset' | 'factor_added' | 'factor_removed'
  | 'recovery_code_used' | 'new_remembered_device' | 'lockout' | 'email_changed';

/** What a notice may mention; nothing secret ever goes in here. */
export type EventDetails = { factor?: string; device?: string; address?: string; newAddress?: string; minutes?: number };

/** The language a mail is written in, and its words. */
export type Speaker = { language: string; t: Translate };
export const speaker = (language: string): Speaker => ({ language, t: translator(language) });

type Content = { subject: string; lines: string[]; link?: { href: string; label: string }; code?: string; notYou: string };

const escape = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

function compose({ language, t }: Speaker, to: string, broker: string, c: Content): Mail {
  const ifNotYou = t('mail.ifNotYou');
  const text = [
    ...c.lines,
    ...(c.code ? ['', `    ${c.code}`, ''] : []),
    ...(c.link ? ['', `${c.link.label}:`, c.link.href, ''] : []),
    '',
    `${ifNotYou} ${c.notYou}`,
    '',
    `— ${broker}`,
  ].join('\n');
  const html = `<!doctype html><html lang="${escape(language)}"><body style="font-family:sans-serif">
${c.lines.map((l) => `<p>${escape(l)}</p>`).join('\n')}
${c.code ? `<p style="font-size:1.6em;letter-spacing:.2em"><strong>${escape(c.code)}</strong></p>` : ''}
${c.link ? `<p><a href="${escape(c.link.href)}">${escape(c.link.label)}</a></p><p style="font-size:.9em">${escape(c.link.href)}</p>` : ''}
<p><strong>${escape(ifNotYou)}</strong> ${escape(c.notYou)}</p>
<p>— ${escape(broker)}</p>
</body></html>`;
  return { to, subject: `[${broker}] ${c.subject}`, text, html, headers: { 'Content-Language': language } };
}

export function verificationMail(s: Speaker, to: string, broker: string, username: string, href: string, hours: number): Mail {
  const { t } = s;
  return compose(s, to, broker, {
    subject: t('mail.verify.subject'),
    lines: [t('mail.verify.asked', { username, broker }), t('mail.verify.within', { count: hours })],
    link: { href, label: t('mail.verify.link') },
    notYou: t('mail.verify.notYou'),
  });
}

export function codeMail(s: Speaker, to: string, broker: string, username: string, code: string, minutes: number): Mail {
  const { t } = s;
  return compose(s, to, broker, {
    subject: t('mail.code.subject'),
    lines: [t('mail.code.asked', { username, broker }), t('mail.code.within', { count: minutes })],
    code,
    notYou: t('mail.code.notYou', { secure: t('mail.secureAccount') }),
  });
}

export function resetMail(s: Speaker, to: string, broker: string, username: string, href: string, minutes: number): Mail {
  const { t } = s;
  return compose(s, to, broker, {
    subject: t('mail.reset.subject'),
    lines: [t('mail.reset.asked', { username, broker }), t('mail.reset.within', { count: minutes })],
    link: { href, label: t('mail.reset.link') },
    notYou: t('mail.reset.notYou'),
  });
}

/** What a notice says happened; a detail (factor, device, new address, minutes) when known. */
function happened(t: Translate, event: SecurityEvent, d: EventDetails): string {
  switch (event) {
    case 'factor_added': case 'factor_removed':
      // A factor is named by its authenticator id ("totp"), in words of the mail's language when the catalogue has them.
      return d.factor ? t(`mail.notice.${event}.happenedWith`, { factor: t(`mail.factor.${d.factor}`, { defaultValue: d.factor }) }) : t(`mail.notice.${event}.happened`);
    case 'new_remembered_device':
      return d.device ? t(`mail.notice.${event}.happenedWith`, { device: d.device }) : t(`mail.notice.${event}.happened`);
    case 'lockout':
      return d.minutes ? t('mail.notice.lockout.happenedFor', { count: d.minutes }) : t('mail.notice.lockout.happened');
    case 'email_changed':
      return d.newAddress ? t('mail.notice.email_changed.happenedTo', { address: d.newAddress }) : t('mail.notice.email_changed.happened');
    default:
      return t(`mail.notice.${event}.happened`);
  }
}

export function noticeMail(s: Speaker, to: string, broker: string, username: string, event: SecurityEvent, details: EventDetails): Mail {
  const { t, language } = s;
  const when = new Intl.DateTimeFormat(language, { dateStyle: 'full', timeStyle: 'long', timeZone: 'UTC' }).format(new Date());
  return compose(s, to, broker, {
    subject: t(`mail.notice.${event}.subject`),
    lines: [
      t('mail.notice.about', { username, broker }),
      happened(t, event, details),
      details.address ? t('mail.notice.whenFrom', { when, address: details.address }) : t('mail.notice.when', { when }),
    ],
    notYou: t('mail.secureAccount'),
  });
}
