import Router from '@koa/router';
import type { Database } from '../storage/database.ts';
import { asset } from '../assets.ts';

/** Static assets, liveness and readiness. */
export function basicRoutes(db: Database) {
  const router = new Router();
  // Linked with their content hash (assetUrl), so a year of caching is safe.
  router.get('/assets/:name', (ctx) => {
    const found = asset(ctx.params.name!);
    if (!found) return;
    ctx.type = found.type;
    ctx.set('Cache-Control', 'public, max-age=31536000, immutable');
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.body = found.body;
  });
  // Browsers ask for /favicon.ico on their own, whatever the page links.
  router.get('/favicon.ico', (ctx) => {
    ctx.status = 301;
    ctx.set('Cache-Control', 'public, max-age=86400');
    ctx.redirect('/assets/favicon.svg');
  });
  router.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  router.get('/readyz', async (ctx) => {
    try {
      await db.select('SELECT 1 AS ok', {});
      ctx.body = { status: 'ready' };
    } catch {
      ctx.status = 503;
      ctx.body = { status: 'database unreachable' };
    }
  });
  return router;
}
