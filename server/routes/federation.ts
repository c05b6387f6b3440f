import Router from '@koa/router';
import type { Context } from 'koa';
import type { Views } from '../views.ts';

const COOKIE = 'stepgate.federation';
const UID = /^[A-Za-z0-9_-]{1,128}$/;

/**
 * Remembers, in this browser, what the trip to an upstream provider is for: a login step
 * (`login:<interaction uid>`) or linking on the account page (`link`). Signed, http-only,
 * sent only to /federation; SameSite=Lax lets the upstream's top-level redirect carry it.
 */
export function rememberFederation(ctx: Context, purpose: `login:${string}` | 'link') {
  ctx.cookies.set(COOKIE, purpose, { signed: true, httpOnly: true, sameSite: 'lax', path: '/federation', secure: ctx.secure, overwrite: true });
}

/**
 * The one redirect URI registered at each upstream: /federation/<name>/callback. It only
 * routes the browser on with the query untouched — to the login step's callback under
 * /interaction/<uid> (where oidc-provider's interaction cookie proves this browser owns
 * that login) or to the account page's link callback (bound to the browser session).
 * State, nonce and PKCE are checked there.
 */
export function federationRoutes(views: Views) {
  const router = new Router({ prefix: '/federation/:name' });

  router.get('/callback', (ctx) => {
    const name = ctx.params.name!;
    const purpose = ctx.cookies.get(COOKIE, { signed: true }) ?? '';
    const query = new URL(ctx.href).search;
    const uid = purpose.startsWith('login:') ? purpose.slice('login:'.length) : undefined;
    if (uid && UID.test(uid)) {
      ctx.status = 303;
      return ctx.redirect(`/interaction/${uid}/callback/${encodeURIComponent(name)}${query}`);
    }
    if (purpose === 'link') {
      ctx.status = 303;
      return ctx.redirect(`/account/link/${encodeURIComponent(name)}/callback${query}`);
    }
    ctx.status = 400;
    ctx.type = 'html';
    ctx.body = views.render('views/error', {
      code: 'unexpected_callback',
      message: 'This sign-in response does not belong to a sign-in in progress in this browser.',
    });
  });

  return router;
}
