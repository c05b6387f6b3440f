import { createHmac, timingSafeEqual } from 'node:crypto';
import Router from '@koa/router';
import { koaBody } from 'koa-body';
import type Provider from 'oidc-provider';
import type { Context } from 'koa';
import type { ChainRunner, InteractionFacts, Outcome } from '../flow/runner.ts';
import type { Views } from '../views.ts';
import { rotateInteraction, type CookieOptions } from '../provider/rotate-interaction.ts';
import { rememberFederation } from './federation.ts';
import { useLanguage, current } from '../i18n/index.ts';
import type { ClientBranding } from '../branding.ts';
import { requestFacts } from '../flow/request.ts';
import { KnownDevice, DEVICE_COOKIE as KNOWN_COOKIE, DEVICE_COOKIE_DAYS as KNOWN_COOKIE_DAYS } from '../security/known-devices.ts';
import { allowFormTarget } from '../middleware/security-headers.ts';

type Details = Awaited<ReturnType<Provider['interactionDetails']>>;

/** The remembered-device cookie; it outlives any `remember` (the stored row decides), within browsers' 400-day cap. */
const DEVICE_COOKIE = 'stepgate.device';
const DEVICE_COOKIE_DAYS = 400;

const form = koaBody({ urlencoded: true, json: false, multipart: false, text: false, formLimit: '16kb' });

/** A form field as one string: a repeated or missing field is treated as empty. */
function field(body: unknown, name: string): string {
  const value = (body as Record<string, unknown> | undefined)?.[name];
  return typeof value === 'string' ? value : '';
}

function fields(body: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries((body as Record<string, unknown>) ?? {})) if (typeof v === 'string') out[k] = v;
  return out;
}

/**
 * The browser side of a login: /interaction/:uid shows the current step; forms post to
 * /interaction/:uid/step/:n (the step they answer) or /choose/:n. The interaction cookie
 * oidc-provider set in this browser must name the same uid: a URL copied to another
 * browser, or a form posted against another browser's login, is refused.
 */
export function interactionRoutes(deps: {
  provider: Provider; runner: ChainRunner; views: Views; keys: { csrf: string; device: string }; cookies: CookieOptions;
  /** the application's name, logo, colours and links, shown on every page of its login */
  branding: (clientId: string) => Promise<ClientBranding | undefined>;
  /** the username shown on the consent page ("Signed in as …") */
  accountName: (accountId: string) => Promise<string | undefined>;
}) {
  const { provider, runner, views, keys, cookies, branding, accountName } = deps;
  const csrfKey = keys.csrf;
  const router = new Router({ prefix: '/interaction/:uid' });

  /** Every page of a login carries the application's branding, once the login is known. */
  function render(ctx: Context, view: string, status: number, locals: Record<string, unknown>) {
    ctx.status = status;
    ctx.type = 'html';
    ctx.body = views.render(view, { client: ctx.state.client, ...locals });
  }

  /**
   * An error page with a way forward: back to the application when it has a home page, and
   * a retry (the login's current step) when reloading can help.
   */
  function fail(ctx: Context, status: number, code: string, message: string) {
    const client = ctx.state.client as ClientBranding | undefined;
    const retry = RETRYABLE.has(code) && ctx.state.uid ? `/interaction/${ctx.state.uid}` : undefined;
    render(ctx, 'views/error', status, { code, message, retry, back: client?.homeUrl ? { url: client.homeUrl, name: client.name } : undefined });
  }

  async function details(ctx: Context): Promise<Details | undefined> {
    let d: Details;
    try {
      d = await provider.interactionDetails(ctx.req, ctx.res);
    } catch {
      fail(ctx, 400, 'expired', 'This sign-in has expired or belongs to another browser. Go back to the application and start again.');
      return undefined;
    }
    if (d.uid !== ctx.params.uid) {
      fail(ctx, 400, 'interaction_mismatch', 'This page belongs to another sign-in in progress. Go back to the application and start again.');
      return undefined;
    }
    // The forms of this login end, through redirects, at the client's redirect URI (checked by oidc-provider).
    allowFormTarget(ctx, d.params.redirect_uri);
    // The application may ask for a language (OpenID Connect ui_locales): it wins over the browser's.
    useLanguage(d.params.ui_locales, ctx);
    ctx.state.uid = d.uid;
    ctx.state.client = await branding(String(d.params.client_id));
    return d;
  }

  function facts(ctx: Context, d: Details): InteractionFacts {
    const device = ctx.cookies.get(DEVICE_COOKIE, { signed: true });
    return {
      uid: d.uid,
      clientId: String(d.params.client_id),
      session: d.session?.accountId ? { uid: d.session.uid, accountId: d.session.accountId } : undefined,
      request: requestFacts(d.params),
      ...(device ? { device } : {}),
      ...(ctx.get('user-agent') ? { userAgent: ctx.get('user-agent') } : {}),
    };
  }

  /** A browser remembered at a step keeps its device id (only a hash is stored) in a long-lived cookie. */
  function keepDevice(ctx: Context, device: string | undefined) {
    if (device) ctx.cookies.set(DEVICE_COOKIE, device, { ...cookies, path: '/interaction', maxAge: DEVICE_COOKIE_DAYS * 86400 * 1000, overwrite: true });
  }

  async function respond(ctx: Context, d: Details, outcome: Outcome) {
    switch (outcome.kind) {
      case 'render': return render(ctx, outcome.view, outcome.status, outcome.locals);
      case 'redirect':
        if (outcome.external) rememberFederation(ctx, `login:${d.uid}`);
        ctx.status = 303;
        return ctx.redirect(outcome.location);
      case 'next-step': {
        keepDevice(ctx, outcome.device);
        // A new id for the rest of the login: whatever was captured before this step is stale.
        const next = await rotateInteraction(provider, ctx, d.uid, cookies, outcome.movedTo);
        if (!next || (!outcome.movedTo && !(await runner.rename(d.uid, next)))) return fail(ctx, 400, 'expired', 'This sign-in has expired. Go back to the application and start again.');
        ctx.status = 303;
        return ctx.redirect(`/interaction/${next}`);
      }
      case 'error': return fail(ctx, outcome.status, outcome.code, outcome.message);
      case 'deny': {
        const location = await provider.interactionResult(ctx.req, ctx.res, { error: outcome.error, error_description: outcome.description }, { mergeWithLastSubmission: false });
        if (!outcome.stateRemoved) await runner.discard(d.uid);
        ctx.status = 303;
        return ctx.redirect(location);
      }
      case 'complete': {
        keepDevice(ctx, outcome.device);
        const location = await provider.interactionResult(ctx.req, ctx.res, outcome.result, { mergeWithLastSubmission: false });
        if (!outcome.stateRemoved) await runner.discard(d.uid);
        ctx.status = 303;
        return ctx.redirect(location);
      }
    }
  }

  router.get('/', async (ctx) => {
    const d = await details(ctx);
    if (!d) return;
    if (d.prompt.name === 'consent') return showConsent(ctx, d);
    return respond(ctx, d, await runner.show(facts(ctx, d), ctx.ip));
  });

  // A step's form URL opened directly (a bookmark, the back button after an error, a reload
  // of an error page): the login's current step is where to go on.
  for (const path of ['/step/:step', '/choose/:step', '/abort', '/consent']) {
    router.get(path, (ctx) => {
      ctx.status = 303;
      ctx.redirect(`/interaction/${encodeURIComponent(ctx.params.uid!)}`);
    });
  }

  router.post('/step/:step', form, async (ctx) => {
    const d = await details(ctx);
    if (!d) return;
    if (d.prompt.name !== 'login') return fail(ctx, 409, 'wrong_step', 'Sign-in is already complete. Reload the page to continue.');
    const body = ctx.request.body;
    const device = new KnownDevice(keys.device, ctx.cookies.get(KNOWN_COOKIE));
    const outcome = await runner.answer(facts(ctx, d), { step: Number(ctx.params.step), csrf: field(body, '_csrf'), fields: fields(body) }, ctx.ip, device);
    if (device.cookie) {
      ctx.cookies.set(KNOWN_COOKIE, device.cookie, { ...cookies, path: '/interaction', maxAge: KNOWN_COOKIE_DAYS * 86_400_000, signed: false, overwrite: true });
    }
    return respond(ctx, d, outcome);
  });

  // An upstream provider's answer, routed here by /federation/:name/callback.
  router.get('/callback/:name', async (ctx) => {
    const d = await details(ctx);
    if (!d) return;
    if (d.prompt.name !== 'login') return fail(ctx, 409, 'wrong_step', 'Sign-in is already complete. Reload the page to continue.');
    const query: Record<string, string> = {};
    for (const [k, v] of new URL(ctx.href).searchParams) query[k] = v;
    return respond(ctx, d, await runner.callback(facts(ctx, d), { authenticator: ctx.params.name!, query }, ctx.ip));
  });

  router.post('/choose/:step', form, async (ctx) => {
    const d = await details(ctx);
    if (!d) return;
    if (d.prompt.name !== 'login') return fail(ctx, 409, 'wrong_step', 'Sign-in is already complete. Reload the page to continue.');
    const body = ctx.request.body;
    return respond(ctx, d, await runner.choose(facts(ctx, d), { step: Number(ctx.params.step), csrf: field(body, '_csrf'), option: field(body, 'option') }, ctx.ip));
  });

  router.post('/recovery-codes', form, async (ctx) => {
    const d = await details(ctx);
    if (!d) return;
    if (d.prompt.name !== 'login') return fail(ctx, 409, 'wrong_step', 'Sign-in is already complete. Reload the page to continue.');
    return respond(ctx, d, await runner.acknowledgeRecoveryCodes(facts(ctx, d), { csrf: field(ctx.request.body, '_csrf') }, ctx.ip));
  });

  router.post('/abort', form, async (ctx) => {
    const d = await details(ctx);
    if (!d) return;
    if (!(await csrfOk(d, field(ctx.request.body, '_csrf')))) return fail(ctx, 403, 'csrf', 'This form is out of date. Reload the page and try again.');
    const location = await provider.interactionResult(ctx.req, ctx.res, { error: 'access_denied', error_description: 'the user cancelled the sign-in' }, { mergeWithLastSubmission: false });
    await runner.discard(d.uid);
    ctx.status = 303;
    ctx.redirect(location);
  });

  router.post('/consent', form, async (ctx) => {
    const d = await details(ctx);
    if (!d) return;
    if (d.prompt.name !== 'consent') return fail(ctx, 409, 'wrong_step', 'There is nothing to approve. Reload the page to continue.');
    if (!(await csrfOk(d, field(ctx.request.body, '_csrf')))) return fail(ctx, 403, 'csrf', 'This form is out of date. Reload the page and try again.');
    if (field(ctx.request.body, 'decision') !== 'allow') {
      const location = await provider.interactionResult(ctx.req, ctx.res, { error: 'access_denied', error_description: 'the user denied access' }, { mergeWithLastSubmission: false });
      ctx.status = 303;
      return ctx.redirect(location);
    }
    const accountId = d.session!.accountId;
    const clientId = String(d.params.client_id);
    const grant = (d.grantId ? await provider.Grant.find(d.grantId) : undefined) ?? new provider.Grant({ accountId, clientId });
    const missing = d.prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[]; missingResourceScopes?: Record<string, string[]> };
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) grant.addResourceScope(indicator, scopes.join(' '));
    const grantId = await grant.save();
    const location = await provider.interactionResult(ctx.req, ctx.res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    ctx.status = 303;
    ctx.redirect(location);
  });

  /** Login pages carry the flow's CSRF token; the consent page one derived from the interaction. */
  async function csrfOk(d: Details, token: string): Promise<boolean> {
    if (token === '') return false;
    const expected = Buffer.from(consentToken(d));
    const given = Buffer.from(token);
    return (expected.length === given.length && timingSafeEqual(expected, given)) || runner.csrfMatches(d.uid, token);
  }

  function consentToken(d: Details): string {
    return createHmac('sha256', csrfKey).update(`consent:${d.uid}`).digest('base64url');
  }

  async function showConsent(ctx: Context, d: Details) {
    const client = await provider.Client.find(String(d.params.client_id));
    const missing = d.prompt.details as { missingOIDCScope?: string[]; missingResourceScopes?: Record<string, string[]> };
    // Everything the grant will hold is shown: API scopes too (e.g. "update"), not only OpenID's.
    const apiScopes = Object.values(missing.missingResourceScopes ?? {}).flat();
    render(ctx, 'views/consent', 200, {
      clientName: (ctx.state.client as ClientBranding | undefined)?.name ?? client?.clientName ?? d.params.client_id,
      username: (await accountName(d.session!.accountId)) ?? d.session!.accountId,
      // A client that requires pushed (PAR) or signed (JAR) requests refuses a plain
      // /authorize, and its pushed request was used up: the honest way is to sign out here
      // and start again at the application.
      switchUser: client?.requirePushedAuthorizationRequests || client?.requireSignedRequestObject ? undefined : signInAgain(d),
      scopes: [...(missing.missingOIDCScope ?? []), ...new Set(apiScopes)].map(describeScope),
      action: `/interaction/${d.uid}/consent`,
      csrf: consentToken(d),
    });
  }

  return router;
}

/** Errors a reload of the login's current step can get past. */
const RETRYABLE = new Set(['wrong_step', 'conflict', 'csrf', 'invalid_option']);

function describeScope(scope: string): string {
  const { t } = current();
  return ['openid', 'profile', 'email', 'offline_access'].includes(scope) ? t(`scopes.${scope}`) : t('scopes.other', { scope });
}

/**
 * "Not you? Sign in as someone else": the same authorization request again, with
 * prompt=login, so no step is taken from this browser's session and whoever signs in
 * now replaces the session's user.
 */
function signInAgain(d: Details): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(d.params)) if (typeof v === 'string') params.set(k, v);
  params.set('prompt', 'login');
  params.delete('request');
  params.delete('request_uri');
  return `/authorize?${params}`;
}
