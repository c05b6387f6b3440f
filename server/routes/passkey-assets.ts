import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import Router from '@koa/router';

const require = createRequire(import.meta.url);
const scripts: Record<string, Buffer> = {
  // The package exports no subpath: its browser bundle sits next to its CommonJS entry.
  'simplewebauthn-browser.js': readFileSync(join(dirname(require.resolve('@simplewebauthn/browser')), '../dist/bundle/index.umd.min.js')),
  'passkey.js': readFileSync(new URL('../../authenticators/passkey/static/passkey.js', import.meta.url)),
};

/** The passkey pages' two scripts, from our own origin (the CSP allows no other). */
export function passkeyAssetRoutes() {
  const router = new Router();
  router.get('/static/:name', (ctx, next) => {
    const body = scripts[ctx.params.name!];
    if (!body) return next();
    ctx.type = 'application/javascript';
    ctx.set('Cache-Control', 'public, max-age=3600');
    ctx.body = body;
  });
  return router;
}
