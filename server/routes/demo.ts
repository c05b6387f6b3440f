import Router from '@koa/router';
import type { Views } from '../views.ts';

const one = (v: unknown) => (typeof v === 'string' ? v : '');

/**
 * Development only: where the demo client's browser lands, showing the code and the curl
 * command that redeems it, so the quick start needs no application of its own. A refused
 * sign-in (Cancel, Deny) shows the `error` and `error_description` the client received.
 */
export function demoRoutes(views: Views, issuer: string) {
  const router = new Router();
  const again = `/authorize?client_id=demo-app&response_type=code&scope=openid%20profile&redirect_uri=${encodeURIComponent(`${issuer}/demo/callback`)}`;
  router.get('/demo/callback', (ctx) => {
    const code = one(ctx.query.code);
    ctx.status = code ? 200 : 400;
    ctx.type = 'html';
    ctx.body = views.render('views/demo-callback', { code, issuer, again, oauthError: one(ctx.query.error), description: one(ctx.query.error_description) });
  });
  return router;
}
