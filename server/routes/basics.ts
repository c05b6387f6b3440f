import { readFileSync } from 'node:fs';
import Router from '@koa/router';
import type { Database } from '../storage/database.ts';

const stylesheet = readFileSync(new URL('../../views/static/style.css', import.meta.url));

/** The stylesheet, liveness and readiness. */
export function basicRoutes(db: Database) {
  const router = new Router();
  router.get('/static/style.css', (ctx) => {
    ctx.type = 'text/css';
    ctx.set('Cache-Control', 'public, max-age=3600');
    ctx.body = stylesheet;
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
