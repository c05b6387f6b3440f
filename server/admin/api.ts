import Router from '@koa/router';
import { koaBody } from 'koa-body';
import type { Context, Next } from 'koa';
import type { AdminContext } from './context.ts';
import { ManageError, type Actor } from '../manage/index.ts';
import { parse } from '../manage/schemas.ts';
import { openApiDocument } from './openapi.ts';
import { resolvePrincipal, type Principal } from './principal.ts';
import { csrfMatches } from './sessions.ts';

const jsonBody = koaBody({ json: true, urlencoded: false, multipart: false, text: false, jsonLimit: '64kb', jsonStrict: true });
const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** The JSON admin API under /admin/api (described at /admin/api/openapi.json). */
export function adminApi(a: AdminContext) {
  const router = new Router({ prefix: '/admin/api' });
  const document = openApiDocument(a.manage.schemas, a.issuer);

  router.use(async (ctx: Context, next: Next) => {
    // Answers carry generated secrets (client secrets, passwords, TOTP secrets) and personal
    // data: no cache, shared or private, may keep any of them.
    ctx.set('Cache-Control', 'no-store');
    try {
      await next();
    } catch (err) {
      const e = err as { status?: number; message?: string; expose?: boolean };
      if (err instanceof ManageError) {
        ctx.status = err.status;
        ctx.body = { error: err.code, error_description: err.message, ...(err.issues.length && { issues: err.issues }) };
      } else if (e.status && e.status >= 400 && e.status < 500) {
        // malformed JSON, body too large: koa-body's own 4xx
        ctx.status = e.status;
        ctx.body = { error: 'invalid_request', error_description: e.expose ? e.message : 'bad request' };
      } else {
        throw err;
      }
    }
  });

  router.get('/openapi.json', (ctx) => {
    ctx.body = document;
  });

  router.use(async (ctx, next) => {
    const principal = await resolvePrincipal(ctx, a);
    if (!('kind' in principal)) {
      if (principal.status === 401) ctx.set('WWW-Authenticate', `Bearer error="${principal.code === 'invalid_token' ? 'invalid_token' : 'invalid_request'}"`);
      throw new ManageError(principal.status, principal.code, principal.message);
    }
    if (principal.kind === 'session' && UNSAFE.has(ctx.method) && !csrfMatches(principal.session, ctx.get('x-csrf-token'))) {
      throw new ManageError(403, 'csrf', 'console requests that change something need the X-CSRF-Token header');
    }
    ctx.state.principal = principal;
    // Identity providers are stored configuration (this API, the CLI, another process):
    // validate chains against the authenticators as they are now.
    await a.runner.refresh();
    await next();
  });

  const by = (ctx: Context): Actor => ({ actor: (ctx.state.principal as Principal).actor, address: ctx.ip });
  const created = (ctx: Context, body: unknown) => {
    ctx.status = 201;
    ctx.body = body;
  };

  router.get('/authenticators', (ctx) => {
    ctx.body = a.authenticatorList();
  });

  router.get('/clients', async (ctx) => {
    ctx.body = await a.manage.clients.list();
  });
  router.post('/clients', jsonBody, async (ctx) => {
    created(ctx, await a.manage.clients.create(parse(a.manage.schemas.clientCreate, ctx.request.body), by(ctx)));
  });
  router.get('/clients/:id', async (ctx) => {
    ctx.body = await a.manage.clients.get(ctx.params.id!);
  });
  router.patch('/clients/:id', jsonBody, async (ctx) => {
    ctx.body = await a.manage.clients.update(ctx.params.id!, parse(a.manage.schemas.clientUpdate, ctx.request.body), by(ctx));
  });
  router.post('/clients/:id/simulate', jsonBody, async (ctx) => {
    ctx.body = await a.manage.clients.simulate(ctx.params.id!, parse(a.manage.schemas.simulate, ctx.request.body ?? {}));
  });
  router.delete('/clients/:id', async (ctx) => {
    await a.manage.clients.remove(ctx.params.id!, by(ctx));
    ctx.status = 204;
  });

  router.get('/users', async (ctx) => {
    ctx.body = await a.manage.users.list(parse(a.manage.schemas.userQuery, ctx.query));
  });
  router.post('/users', jsonBody, async (ctx) => {
    created(ctx, await a.manage.users.create(parse(a.manage.schemas.userCreate, ctx.request.body), by(ctx)));
  });
  router.get('/users/:id', async (ctx) => {
    ctx.body = await a.manage.users.get(ctx.params.id!);
  });
  router.patch('/users/:id', jsonBody, async (ctx) => {
    ctx.body = { user: await a.manage.users.update(ctx.params.id!, parse(a.manage.schemas.userUpdate, ctx.request.body), by(ctx)) };
  });
  router.delete('/users/:id', async (ctx) => {
    await a.manage.users.remove(ctx.params.id!, by(ctx));
    ctx.status = 204;
  });
  router.post('/users/:id/disable', jsonBody, async (ctx) => {
    ctx.body = { user: await a.manage.users.setDisabled(ctx.params.id!, true, by(ctx)) };
  });
  router.post('/users/:id/sign-out', jsonBody, async (ctx) => {
    ctx.body = { user: await a.manage.users.signOut(ctx.params.id!, by(ctx)) };
  });
  router.post('/users/:id/enable', jsonBody, async (ctx) => {
    ctx.body = { user: await a.manage.users.setDisabled(ctx.params.id!, false, by(ctx)) };
  });
  router.post('/users/:id/password', jsonBody, async (ctx) => {
    ctx.body = await a.manage.users.resetPassword(ctx.params.id!, parse(a.manage.schemas.passwordReset, ctx.request.body).password, by(ctx));
  });
  router.post('/users/:id/totp', jsonBody, async (ctx) => {
    ctx.body = await a.manage.users.resetTotp(ctx.params.id!, by(ctx));
  });
  router.post('/users/:id/recovery-codes', jsonBody, async (ctx) => {
    ctx.body = await a.manage.users.generateRecoveryCodes(ctx.params.id!, by(ctx));
  });
  router.get('/users/:id/factors', async (ctx) => {
    ctx.body = await a.manage.users.factors(ctx.params.id!);
  });
  router.delete('/users/:id/factors/:factorId', async (ctx) => {
    ctx.body = await a.manage.users.removeFactor(ctx.params.id!, ctx.params.factorId!, by(ctx));
  });
  router.post('/users/:id/require-enrolment', jsonBody, async (ctx) => {
    ctx.body = { user: await a.manage.users.requireEnrolment(ctx.params.id!, parse(a.manage.schemas.enrolmentRequirement, ctx.request.body).required, by(ctx)) };
  });
  router.post('/users/:id/unlock', jsonBody, async (ctx) => {
    ctx.body = { user: await a.manage.users.unlock(ctx.params.id!, by(ctx)) };
  });

  router.get('/users/:id/identities', async (ctx) => {
    ctx.body = await a.manage.users.identities(ctx.params.id!);
  });
  router.post('/users/:id/identities', jsonBody, async (ctx) => {
    const result = await a.manage.users.link(ctx.params.id!, parse(a.manage.schemas.identityLink, ctx.request.body), by(ctx));
    ctx.status = result.created ? 201 : 200;
    ctx.body = { identity: result.identity };
  });
  router.delete('/users/:id/identities/:idp/:subject', async (ctx) => {
    await a.manage.users.unlink(ctx.params.id!, ctx.params.idp!, ctx.params.subject!, by(ctx));
    ctx.status = 204;
  });

  router.get('/identity-providers', async (ctx) => {
    ctx.body = await a.manage.idps.list();
  });
  router.post('/identity-providers', jsonBody, async (ctx) => {
    created(ctx, await a.manage.idps.create(parse(a.manage.schemas.idpCreate, ctx.request.body), by(ctx)));
  });
  router.get('/identity-providers/:name', async (ctx) => {
    ctx.body = await a.manage.idps.get(ctx.params.name!);
  });
  router.patch('/identity-providers/:name', jsonBody, async (ctx) => {
    ctx.body = await a.manage.idps.update(ctx.params.name!, parse(a.manage.schemas.idpUpdate, ctx.request.body), by(ctx));
  });
  router.delete('/identity-providers/:name', async (ctx) => {
    await a.manage.idps.remove(ctx.params.name!, by(ctx));
    ctx.status = 204;
  });

  router.get('/saml-idps', async (ctx) => {
    ctx.body = await a.manage.samlIdps.list();
  });
  router.post('/saml-idps', jsonBody, async (ctx) => {
    created(ctx, await a.manage.samlIdps.create(parse(a.manage.schemas.samlIdpCreate, ctx.request.body), by(ctx)));
  });
  router.get('/saml-idps/:name', async (ctx) => {
    ctx.body = await a.manage.samlIdps.get(ctx.params.name!);
  });
  router.delete('/saml-idps/:name', async (ctx) => {
    await a.manage.samlIdps.remove(ctx.params.name!, by(ctx));
    ctx.status = 204;
  });

  router.get('/keys', async (ctx) => {
    ctx.body = await a.manage.keys.list();
  });
  router.post('/keys/rotate', jsonBody, async (ctx) => {
    created(ctx, await a.manage.keys.rotate(parse(a.manage.schemas.keyRotate, ctx.request.body).alg, by(ctx)));
  });
  router.delete('/keys/:kid', async (ctx) => {
    await a.manage.keys.retire(ctx.params.kid!, by(ctx));
    ctx.status = 204;
  });

  router.get('/overview', async (ctx) => {
    ctx.body = await a.manage.overview.get();
  });

  router.get('/audit', async (ctx) => {
    ctx.body = await a.manage.audit.list(parse(a.manage.schemas.auditQuery, ctx.query));
  });

  return router;
}
