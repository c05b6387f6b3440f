import Router from '@koa/router';
import type { Views } from '../views.ts';

/** `/`: what this server is, for someone who typed its address, with the way to their account. */
export function startRoutes(views: Views) {
  const router = new Router();
  router.get('/', (ctx) => {
    ctx.type = 'html';
    ctx.body = views.render('views/start', {});
  });
  return router;
}
