import type Router from '@koa/router';
import type { Context } from 'koa';
import { koaBody } from 'koa-body';
import { z } from 'zod';
import type { Services } from '../services.ts';
import type { Views } from '../views.ts';
import { current } from '../i18n/index.ts';
import { verificationMail } from '../mail/templates.ts';

const form = koaBody({ urlencoded: true, json: false, multipart: false, text: false, formLimit: '16kb' });

/** Hours a verification link works. */
export const VERIFY_HOURS = 24;
/** Verification mails per account and per address. */
const VERIFY_LIMIT = { minIntervalSeconds: 60, perHour: 5 };
const address = z.email().max(320);

/** What the account page's own helpers give this room. */
export type AccountPage = {
  signedIn(ctx: Context): Promise<{ uid: string; accountId: string } | undefined>;
  csrfOk(ctx: Context, sessionUid: string): boolean;
  /** a recent login with every factor of the account */
  recentFullLogin(ctx: Context, accountId: string): Promise<boolean>;
  fail(ctx: Context, status: number, code: string, message: string, params?: Record<string, unknown>): void;
};

/**
 * The account's email address: set or changed on /account (with a recent login that used
 * every factor), effective only once the user follows the link mailed to the new address
 * (single use, 24 hours, stored as a hash). The link page asks for a click (a POST), so
 * mail scanners that open links do not use it. The old verified address is told.
 */
export function accountEmailRoutes(router: Router, deps: { services: Services; views: Views; page: AccountPage }) {
  const { services, views, page } = deps;
  const { users, mail } = services;

  router.post('/email', form, async (ctx) => {
    const who = await page.signedIn(ctx);
    if (!who) return;
    if (!page.csrfOk(ctx, who.uid)) return page.fail(ctx, 403, 'csrf', 'This form is out of date. Reload your account page and try again.');
    if (!mail.enabled) return page.fail(ctx, 503, 'mail_disabled', 'This service cannot send email, so addresses cannot be confirmed here. Ask your administrator.');
    const parsed = address.safeParse(String((ctx.request.body as Record<string, unknown>).email ?? '').trim());
    if (!parsed.success) return page.fail(ctx, 400, 'invalid_email', 'That is not an email address. Go back and enter one like name@example.org.');
    if (!(await page.recentFullLogin(ctx, who.accountId))) {
      return page.fail(ctx, 403, 'reauthentication_required', 'Changing your email address needs a recent sign-in with every factor of your account (within the last 10 minutes). Sign in to an application again, then come back to this page.');
    }
    const user = (await users.byId(who.accountId))!;
    const email = parsed.data;
    const allowed = await mail.limits.take([`verify:account:${user.id}`, `verify:address:${email.toLowerCase()}`], VERIFY_LIMIT);
    if (!allowed.allowed) {
      const minutes = Math.ceil(allowed.retryAfterSeconds / 60);
      return page.fail(ctx, 429, 'too_many_mails', `A confirmation link was sent recently. Check your mail, or try again in ${minutes} minutes.`, { count: minutes });
    }
    const token = await mail.tokens.issueLink('verify', { accountId: user.id, email, ttl: VERIFY_HOURS * 3600 });
    mail.deliver(verificationMail(await mail.speakerFor(user), email, mail.brokerName, user.username, mail.link('/account/email/verify', token), VERIFY_HOURS), 'email-verification');
    ctx.status = 303;
    ctx.redirect('/account?done=verification_sent');
  });

  function linkPage(ctx: Context, status: number, locals: Record<string, unknown>) {
    ctx.status = status;
    ctx.type = 'html';
    ctx.body = views.render('views/email-verify', { title: current().t('verify.title'), ...locals });
  }

  const dead = (ctx: Context) => page.fail(ctx, 400, 'invalid_link', 'This confirmation link has expired or was already used. Ask for a new one on your account page.', { context: 'verify' });

  router.get('/email/verify', async (ctx) => {
    const token = typeof ctx.query.token === 'string' ? ctx.query.token : '';
    const row = await mail.tokens.peek('verify', token);
    if (!row) return dead(ctx);
    linkPage(ctx, 200, { email: row.email, action: `/account/email/verify?token=${encodeURIComponent(token)}` });
  });

  router.post('/email/verify', async (ctx) => {
    const token = typeof ctx.query.token === 'string' ? ctx.query.token : '';
    const row = await mail.tokens.peek('verify', token);
    const user = row && await users.byId(row.accountId);
    if (!row || !user || user.disabled || !(await mail.tokens.use('verify', token))) return dead(ctx);
    await users.setEmail(user.id, row.email, true);
    services.audit.note({ kind: 'account.email.verified', subject: user.id, address: ctx.ip });
    if (user.emailVerified && user.email && user.email.toLowerCase() !== row.email.toLowerCase()) {
      await mail.notify(user.id, 'email_changed', { previousAddress: user.email, newAddress: row.email });
    }
    linkPage(ctx, 200, { email: row.email, done: true });
  });
}
