import Router from '@koa/router';
import type { Clients } from '../storage/clients.ts';
import { brandColourProblem, brandingOf, type ClientBranding } from '../branding.ts';

/**
 * A brand colour as a stylesheet (the CSP allows no inline styles): the accent in the light
 * scheme; the dark scheme keeps its own light accent, which any brand colour dark enough for
 * white would fail against a dark card. Named by the colour, so it can be cached for a year.
 */
export function brandingRoutes() {
  const router = new Router();
  router.get('/assets/brand/:hex.css', (ctx) => {
    const colour = `#${ctx.params.hex}`;
    if (brandColourProblem(colour) !== undefined) return;
    ctx.type = 'text/css; charset=utf-8';
    ctx.set('Cache-Control', 'public, max-age=31536000, immutable');
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.body = `@media (prefers-color-scheme: light) { :root { --accent: ${colour.toLowerCase()}; --focus: ${colour.toLowerCase()}; --accent-fg: #fff; } }\n`;
  });
  return router;
}

/** The branding of a registered client, for its login pages. */
export function brandingLookup(clients: Clients) {
  return async (clientId: string): Promise<ClientBranding | undefined> => {
    const record = await clients.get(clientId);
    return record ? brandingOf(clientId, record.settings) : undefined;
  };
}
