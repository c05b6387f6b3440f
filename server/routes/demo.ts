import Router from '@koa/router';
import type { Views } from '../views.ts';

/**
 * Development only: where the demo client's browser lands, showing the code and the curl
 * command that redeems it, so the quick start needs no application of its own.
 */
export function demoRoutes(views: Views, issuer: string) {
  const router = new Router();
  router.get('/demo/callback', (ctx) => {
    const code = typeof ctx.query.code === 'string' ? ctx.query.code : '';
    const error = typeof ctx.query.error === 'string' ? ctx.query.error : '';
    ctx.type = 'html';
    ctx.body = views.render('views/demo-callback', { title: 'Demo callback', code, error, issuer, description: ctx.query.error_description ?? '' });
  });
  return router;
}
