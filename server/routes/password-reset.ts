import Router from '@koa/router';
import { koaBody } from 'koa-body';
import type Provider from 'oidc-provider';
import type { Context } from 'koa';
import type { Services } from '../services.ts';
import type { Views } from '../views.ts';
import type { Authenticator, StepResult } from '../flow/contract.ts';
import type { User } from '../storage/users.ts';
import { resetMail } from '../mail/templates.ts';
import { revokeAccount } from '../storage/revoke-account.ts';
import { backchannelLogout } from '../provider/backchannel-logout.ts';
import { current } from '../i18n/index.ts';
import digest from '../security/digest.ts';

const form = koaBody({ urlencoded: true, json: false, multipart: false, text: false, formLimit: '16kb' });

/** Minutes a reset link works. */
export const RESET_MINUTES = 30;
/** Reset mails per account and per address: one a minute, five an hour. */
export const RESET_LIMIT = { minIntervalSeconds: 60, perHour: 5 };
/**
 * The second factors a reset asks before it accepts a new password, in order of preference;
 * the first one the account has set up is asked. A mailed link proves the mailbox only, so
 * an account with a second factor keeps needing it. Authenticators that other work adds
 * (passkey, recovery) are asked through the same contract (start/resume) once registered.
 */
export const RESET_FACTORS = ['totp', 'passkey', 'recovery'];

type ResetData = { factorPassed?: string; factorState?: Record<string, unknown> };

function field(body: unknown, name: string): string {
  const value = (body as Record<string, unknown> | undefined)?.[name];
  return typeof value === 'string' ? value : '';
}

/** What a new password must be; the same rule as the admin API's. Codes are the catalogues' `errors.<code>`. */
function passwordProblem(password: string, repeated: string): { code: string; message: string } | undefined {
  if (password.length < 8) return { code: 'password_too_short', message: 'Choose a password of at least 8 characters.' };
  if (password.length > 1024) return { code: 'password_too_long', message: 'Choose a password of at most 1024 characters.' };
  if (password !== repeated) return { code: 'passwords_differ', message: 'The two passwords are not the same. Type the new password twice.' };
  return undefined;
}

/**
 * "Forgot your password?": a link mailed to the account's verified address (asked for by
 * username or address; the answer is the same, and takes the same time, whether or not
 * the account exists), single use, 30 minutes, bound to the account's current password
 * hash so it dies when the password changes. The link page asks the account's second
 * factor before the new password; afterwards the account is signed out everywhere and
 * told by mail.
 */
export function passwordResetRoutes(deps: { provider: Provider; views: Views; services: Services }) {
  const { views, services } = deps;
  const { users, mail, passwords, runner, audit, db, events } = services;
  const router = new Router({ prefix: '/password' });

  function page(ctx: Context, status: number, locals: Record<string, unknown>) {
    ctx.status = status;
    ctx.type = 'html';
    ctx.body = views.render('views/password-reset', { title: current().t('reset.title'), ...locals });
  }

  function deadLink(ctx: Context) {
    ctx.status = 400;
    ctx.type = 'html';
    const { t } = current();
    ctx.body = views.render('views/error', {
      title: t('reset.title'), heading: t('reset.deadHeading'), code: 'invalid_link', params: { context: 'reset' },
      message: 'This password reset link has expired, was already used, or your password has changed since it was sent.',
      hint: t('reset.deadHint'),
    });
  }

  /** The live link in `?token=`, with its account, when the password is still the one it was sent for. */
  async function linked(ctx: Context): Promise<{ token: string; user: User; data: ResetData } | undefined> {
    const token = typeof ctx.query.token === 'string' ? ctx.query.token : '';
    const row = await mail.tokens.peek('reset', token);
    const user = row && await users.byId(row.accountId);
    if (!row || !user || user.disabled || digest(user.passwordHash ?? '') !== row.bound) {
      deadLink(ctx);
      return undefined;
    }
    return { token, user, data: row.data as ResetData };
  }

  /** The second factor this reset must ask, unless already answered. */
  async function pendingFactor(user: User, data: ResetData): Promise<Authenticator | undefined> {
    for (const id of RESET_FACTORS) {
      const a = runner.authenticator(id);
      if (a && (!a.configuredFor || (await a.configuredFor(user.id)))) return data.factorPassed === id ? undefined : a;
    }
    return undefined;
  }

  function showFactor(ctx: Context, token: string, result: StepResult) {
    if (result.kind !== 'challenge' && result.kind !== 'failure') return deadLink(ctx);
    const view = result.view ?? 'views/error';
    ctx.status = result.kind === 'failure' ? 400 : 200;
    ctx.type = 'html';
    const q = `?token=${encodeURIComponent(token)}`;
    ctx.body = views.render(view, {
      ...result.locals, error: result.kind === 'failure' ? result.error : undefined, message: result.kind === 'failure' ? result.error.message : undefined,
      action: `/password/reset/factor${q}`, abortAction: `/password/reset/cancel${q}`, csrf: '', canSwitch: false, stepIndex: 0, stepCount: 2,
    });
  }

  router.get('/forgot', (ctx) => {
    page(ctx, mail.enabled ? 200 : 503, { mode: mail.enabled ? 'forgot' : 'unavailable' });
  });

  router.post('/forgot', form, async (ctx) => {
    if (!mail.enabled) return page(ctx, 503, { mode: 'unavailable' });
    const identifier = field(ctx.request.body, 'identifier').trim().slice(0, 320);
    if (!identifier) return page(ctx, 400, { mode: 'forgot', error: { code: 'missing_identifier', message: 'Enter your username or email address.' } });
    // Both lookups always run; whatever follows for a real account happens after the answer.
    const [byName, byAddress] = await Promise.all([users.byUsername(identifier), users.byVerifiedEmail(identifier)]);
    const user = byName ?? byAddress;
    if (user && !user.disabled && user.emailVerified && user.email && user.passwordHash) {
      const { id, email, username, passwordHash } = user;
      const address = ctx.ip;
      const language = current().language;
      mail.later('password-reset', async () => {
        const allowed = await mail.limits.take([`reset:account:${id}`, `reset:address:${email.toLowerCase()}`], RESET_LIMIT);
        audit.note({ kind: 'auth.password.reset_requested', subject: id, address, details: { mailed: allowed.allowed } });
        if (!allowed.allowed) return;
        const token = await mail.tokens.issueLink('reset', { accountId: id, email, ttl: RESET_MINUTES * 60, bound: digest(passwordHash) });
        mail.deliver(resetMail(await mail.speakerFor(user, language), email, mail.brokerName, username, mail.link('/password/reset', token), RESET_MINUTES), 'password-reset');
      });
    }
    page(ctx, 200, { mode: 'sent' });
  });

  router.get('/reset', async (ctx) => {
    const link = await linked(ctx);
    if (!link) return;
    const factor = await pendingFactor(link.user, link.data);
    if (factor) {
      const state = { ...link.data.factorState };
      const result = await factor.start({ input: {}, accountId: link.user.id, state, urls: { action: '', callback: '' }, clientAddress: ctx.ip });
      await mail.tokens.setData('reset', link.token, { ...link.data, factorState: state });
      return showFactor(ctx, link.token, result);
    }
    page(ctx, 200, { mode: 'new', action: `/password/reset?token=${encodeURIComponent(link.token)}`, username: link.user.username, stepIndex: 1, stepCount: 2 });
  });

  router.post('/reset/factor', form, async (ctx) => {
    const link = await linked(ctx);
    if (!link) return;
    const factor = await pendingFactor(link.user, link.data);
    if (!factor) return ctx.redirect(`/password/reset?token=${encodeURIComponent(link.token)}`);
    const input: Record<string, string> = {};
    for (const [k, v] of Object.entries((ctx.request.body as Record<string, unknown>) ?? {})) if (typeof v === 'string') input[k] = v;
    const state = { ...link.data.factorState };
    // The same authenticator as at sign-in: its lockout, single-use codes and checks apply.
    const result = await factor.resume({ input, accountId: link.user.id, state, urls: { action: '', callback: '' }, clientAddress: ctx.ip });
    // Audited and counted like any sign-in step (no client: the reset is the account's own page).
    const passed = result.kind === 'success' && result.accountId === link.user.id;
    const reason = result.kind === 'failure' ? result.error.code : result.kind === 'success' && !passed ? 'wrong_account' : undefined;
    if (passed || reason) {
      events.authStep({ clientId: '', authenticator: factor.id, step: 0, outcome: passed ? 'success' : 'failure', ...(reason && { reason }), accountId: link.user.id, address: ctx.ip, door: 'password_reset' });
    }
    if (passed) {
      if (!(await mail.tokens.setData('reset', link.token, { factorPassed: factor.id }))) return deadLink(ctx);
      ctx.status = 303;
      return ctx.redirect(`/password/reset?token=${encodeURIComponent(link.token)}`);
    }
    await mail.tokens.setData('reset', link.token, { ...link.data, factorState: state });
    return showFactor(ctx, link.token, result);
  });

  router.post('/reset/cancel', form, async (ctx) => {
    const link = await linked(ctx);
    if (!link) return;
    await mail.tokens.use('reset', link.token);
    page(ctx, 200, { mode: 'cancelled' });
  });

  router.post('/reset', form, async (ctx) => {
    const link = await linked(ctx);
    if (!link) return;
    const { user, token } = link;
    if (await pendingFactor(user, link.data)) {
      ctx.status = 303;
      return ctx.redirect(`/password/reset?token=${encodeURIComponent(token)}`);
    }
    const password = field(ctx.request.body, 'password');
    const again = field(ctx.request.body, 'password2');
    const newPage = (error: { code: string; message: string }) => page(ctx, 400, { mode: 'new', action: `/password/reset?token=${encodeURIComponent(token)}`, username: user.username, error, stepIndex: 1, stepCount: 2 });
    const problem = passwordProblem(password, again);
    if (problem) return newPage(problem);
    if (await passwords.verify(user.passwordHash, password)) return newPage({ code: 'password_unchanged', message: 'Choose a password different from your previous one.' });
    const hash = await passwords.hash(password);
    // The link is used once, and the password replaced only if it is still the one the
    // link was sent for: a second link, or a change in between, loses.
    if (!(await mail.tokens.use('reset', token)) || !(await users.replacePassword(user.id, user.passwordHash, hash))) return deadLink(ctx);
    const { removed: revoked, ended } = await revokeAccount(db, user.id);
    audit.note({ kind: 'auth.password.reset', subject: user.id, address: ctx.ip, details: { revoked } });
    // the applications signed in through the ended sessions hear of it (back-channel logout)
    await backchannelLogout(deps.provider)(user.id, ended);
    await mail.notify(user.id, 'password_reset', { address: ctx.ip });
    page(ctx, 200, { mode: 'done' });
  });

  return router;
}
