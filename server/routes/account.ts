import { createHmac, timingSafeEqual } from 'node:crypto';
import Router from '@koa/router';
import { koaBody } from 'koa-body';
import type Provider from 'oidc-provider';
import type { Context } from 'koa';
import type { Services } from '../services.ts';
import { backchannelLogout } from '../provider/backchannel-logout.ts';
import type { Views } from '../views.ts';
import { PendingLinks } from '../federation/pending-links.ts';
import { UpstreamError } from '../federation/upstream.ts';
import { rememberFederation } from './federation.ts';
import { accountFactorRoutes } from './account-factors.ts';
import { accountEmailRoutes } from './account-email.ts';
import { current } from '../i18n/index.ts';

const form = koaBody({ urlencoded: true, json: false, multipart: false, text: false, formLimit: '16kb' });

/** `?done=` values that show a notice (account.notice.<name> in locales/). */
const NOTICES = new Set(['linked', 'unlinked', 'verification_sent', 'password', 'sessions', 'totp', 'passkey', 'renamed', 'removed', 'removed_with_codes', 'device_forgotten', 'devices_forgotten']);

/**
 * /account: where a signed-in user links and unlinks upstream identities. "Signed in"
 * means oidc-provider's browser session names an account — which only happens when a
 * chain was completed in full. Linking is a complete upstream login started by a POST
 * carrying a CSRF token derived from the session, and accepted back only in that same
 * browser session; the (issuer, subject) the upstream vouches for is what gets linked.
 */
/** Seconds a login counts as recent enough to link a new sign-in provider. */
const LINK_FRESHNESS = 600;

export function accountRoutes(deps: { provider: Provider; views: Views; services: Services; csrfKey: string }) {
  const { provider, views, services, csrfKey } = deps;
  const { idps, links, users, upstream, credentials } = services;
  const pendingLinks = new PendingLinks(services.db);
  const router = new Router({ prefix: '/account' });

  function page(ctx: Context, status: number, view: string, locals: Record<string, unknown>) {
    ctx.status = status;
    ctx.type = 'html';
    ctx.body = views.render(view, locals);
  }

  /** An error on the account page; the way forward is the account page itself, unless signed out. */
  function fail(ctx: Context, status: number, code: string, message: string, params?: Record<string, unknown>) {
    const { t } = current();
    const signedOut = code === 'login_required';
    page(ctx, status, 'views/error', {
      title: t('account.title'), heading: t('error.accountHeading'), code, message, params,
      hint: signedOut ? t('error.signInHint') : t('error.accountHint'), accountLink: !signedOut,
    });
  }

  /**
   * Linking adds a way into the account, so it needs more than any session: a login no
   * older than LINK_FRESHNESS seconds that used every factor the account has (password,
   * authenticator app). Otherwise a stolen password alone, used at a password-only client,
   * could link the thief's own upstream identity and pass a "totp|yahoo" step from then on.
   */
  async function strongEnoughToLink(ctx: Context, accountId: string): Promise<boolean> {
    const session = await provider.Session.get(ctx as Parameters<Provider['Session']['get']>[0]);
    const user = await users.byId(accountId);
    const amr = new Set(session.amr ?? []);
    const loginTs = typeof session.loginTs === 'number' ? session.loginTs : 0;
    if (Math.floor(Date.now() / 1000) - loginTs > LINK_FRESHNESS) return false;
    if (user?.passwordHash && !amr.has('pwd')) return false;
    // A second factor of any kind (authenticator app, passkey, recovery code) stands for the
    // possession factor: someone who lost the phone signs in with a code and replaces it here.
    if (user && (await credentials.hasSecondFactor(user.id)) && !amr.has('otp') && !amr.has('hwk')) return false;
    return true;
  }

  async function signedIn(ctx: Context): Promise<{ uid: string; accountId: string } | undefined> {
    const session = await provider.Session.get(ctx as Parameters<Provider['Session']['get']>[0]);
    if (!session.accountId) {
      fail(ctx, 401, 'login_required', 'You are not signed in here.');
      return undefined;
    }
    const user = await users.byId(session.accountId);
    if (!user || user.disabled) {
      fail(ctx, 403, 'account_disabled', 'This account is disabled.');
      return undefined;
    }
    return { uid: session.uid, accountId: session.accountId };
  }

  const csrfFor = (sessionUid: string) => createHmac('sha256', csrfKey).update(`account:${sessionUid}`).digest('base64url');

  function csrfOk(ctx: Context, sessionUid: string): boolean {
    const given = Buffer.from(String((ctx.request.body as Record<string, unknown> | undefined)?._csrf ?? ''));
    const expected = Buffer.from(csrfFor(sessionUid));
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  const factorOverview = accountFactorRoutes(router, services, { signedIn, csrfOk, csrfFor, fail, page, recentEnough: strongEnoughToLink, notifyLogout: backchannelLogout(provider) });

  router.get('/', async (ctx) => {
    const who = await signedIn(ctx);
    if (!who) return;
    const user = (await users.byId(who.accountId))!;
    const mine = await links.forAccount(who.accountId);
    const providers = (await idps.list()).map((p) => ({ name: p.name, displayName: p.displayName, links: mine.filter((l) => l.idpName === p.name) }));
    page(ctx, 200, 'views/account', {
      username: user.username, hasPassword: user.passwordHash !== null, email: user.email, emailVerified: user.emailVerified, mailEnabled: services.mail.enabled,
      providers, csrf: csrfFor(who.uid), notice: NOTICES.has(String(ctx.query.done)) ? String(ctx.query.done) : undefined,
      ...(await factorOverview(who.accountId, who.uid)),
    });
  });

  router.post('/link/:name', form, async (ctx) => {
    const who = await signedIn(ctx);
    if (!who) return;
    if (!csrfOk(ctx, who.uid)) return fail(ctx, 403, 'csrf', 'This form is out of date. Reload your account page and try again.');
    const idp = await idps.get(ctx.params.name!);
    if (!idp) return fail(ctx, 404, 'unknown_provider', 'There is no such sign-in provider.');
    if (!(await strongEnoughToLink(ctx, who.accountId))) {
      return fail(ctx, 403, 'reauthentication_required', `Linking a sign-in provider needs a recent sign-in with every factor of your account (password and authenticator app, if you have one) within the last ${LINK_FRESHNESS / 60} minutes. Sign in to an application again that way, then come back to this page.`, { minutes: LINK_FRESHNESS / 60 });
    }
    try {
      const { url, pending } = await upstream.authorizationUrl(idp);
      await pendingLinks.put({ idpName: idp.name, accountId: who.accountId, sessionUid: who.uid, pending }, services.config.ttl.interaction);
      rememberFederation(ctx, 'link');
      ctx.status = 303;
      ctx.redirect(url.href);
    } catch (err) {
      if (!(err instanceof UpstreamError)) throw err;
      fail(ctx, 400, err.error.code, err.error.message);
    }
  });

  // Routed here by /federation/:name/callback.
  router.get('/link/:name/callback', async (ctx) => {
    const who = await signedIn(ctx);
    if (!who) return;
    const query: Record<string, string> = {};
    for (const [k, v] of new URL(ctx.href).searchParams) query[k] = v;
    const link = query.state ? await pendingLinks.take(query.state) : undefined;
    if (!link || link.sessionUid !== who.uid || link.accountId !== who.accountId || link.idpName !== ctx.params.name) {
      return fail(ctx, 400, 'unexpected_callback', 'This response does not belong to a link you started in this browser, or was already used.');
    }
    const idp = await idps.get(link.idpName);
    if (!idp) return fail(ctx, 404, 'unknown_provider', 'There is no such sign-in provider.');
    try {
      const identity = await upstream.complete(idp, query, link.pending);
      const outcome = await links.link({ idpName: idp.name, issuer: identity.issuer, subject: identity.subject }, who.accountId);
      if (outcome === 'taken') return fail(ctx, 409, 'identity_taken', `That ${idp.displayName} account is already linked to another account here.`);
      ctx.status = 303;
      ctx.redirect('/account?done=linked');
    } catch (err) {
      if (!(err instanceof UpstreamError)) throw err;
      fail(ctx, 400, err.error.code, err.error.message);
    }
  });

  router.post('/unlink', form, async (ctx) => {
    const who = await signedIn(ctx);
    if (!who) return;
    if (!csrfOk(ctx, who.uid)) return fail(ctx, 403, 'csrf', 'This form is out of date. Reload your account page and try again.');
    const body = ctx.request.body as Record<string, unknown>;
    const removed = await links.unlink(who.accountId, String(body.idp ?? ''), String(body.subject ?? ''));
    if (removed === 0) return fail(ctx, 404, 'not_linked', 'That identity is not linked to your account.');
    ctx.status = 303;
    ctx.redirect('/account?done=unlinked');
  });

  accountEmailRoutes(router, { services, views, page: { signedIn, csrfOk, recentFullLogin: strongEnoughToLink, fail } });

  return router;
}
