/**
 * An API behind stepgate, as seeds 002/003 describe it: reading the menu needs scope
 * `read`, placing an order needs scope `update`; a token without them is refused the
 * way a gateway refuses it. Run it with `npm run example:api` (see README, "Token API").
 *
 *   STEPGATE_ISSUER   the broker (default http://localhost:3000)
 *   API_CLIENT_ID     a confidential client the API introspects tokens with
 *   API_CLIENT_SECRET its secret
 *   PORT              where the API listens (default 8280)
 */
import Koa from 'koa';
import Router from '@koa/router';
import { createRequireScopes, type RequireScopesOptions } from '../server/api/index.ts';

const MENU = [
  { name: 'BBQ Chicken Bacon', price: '14.99' },
  { name: 'Garden Fresh', price: '11.99' },
];

export function createExampleApi(options: RequireScopesOptions): Koa {
  const requireScopes = createRequireScopes(options);
  const router = new Router();
  router.get('/pizza/1.0/menu', requireScopes('read'), (ctx) => {
    ctx.body = MENU;
  });
  router.post('/pizza/1.0/orders', requireScopes('update'), (ctx) => {
    ctx.status = 201;
    ctx.body = { ordered: MENU[0]!.name, by: ctx.state.token.sub ?? ctx.state.token.client_id };
  });
  const app = new Koa();
  app.use(router.routes());
  app.use(router.allowedMethods());
  return app;
}

if (import.meta.main) {
  const clientId = process.env.API_CLIENT_ID;
  const clientSecret = process.env.API_CLIENT_SECRET;
  if (!clientId || !clientSecret) {
    console.error('protected-api: set API_CLIENT_ID and API_CLIENT_SECRET to a confidential stepgate client (stepgate client add)');
    process.exit(2);
  }
  const issuer = process.env.STEPGATE_ISSUER ?? 'http://localhost:3000';
  const port = Number(process.env.PORT ?? 8280);
  createExampleApi({ issuer, clientId, clientSecret }).listen(port, () => {
    console.log(`example API on http://localhost:${port}/pizza/1.0/menu (scope read) and POST /pizza/1.0/orders (scope update), tokens checked at ${issuer}`);
  });
}
