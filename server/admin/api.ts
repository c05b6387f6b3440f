import Router from '@koa/router';
import { koaBody } from 'koa-body';
import type { Context, Next } from 'koa';
import { z } from 'zod';
import type { AdminContext } from './context.ts';
import { AdminError, type Actor } from './actions.ts';
import { describeIssues } from './schemas.ts';
import { openApiDocument } from './openapi.ts';
import { resolvePrincipal, type Principal } from './principal.ts';
import { csrfMatches } from './sessions.ts';

const jsonBody = koaBody({ json: true, urlencoded: false, multipart: false, text: false, jsonLimit: '64kb', jsonStrict: true });
const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Validates `input` or throws a 400 naming each field path and reason. */
export function parse<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const result = schema.safeParse(input ?? {});
  if (!result.success) {
    const issues = describeIssues(result.error);
    throw new AdminError(400, 'invalid_request', issues.map((i) => `${i.path}: ${i.message}`).join('; '), issues);
  }
  return result.data;
}

/** The JSON admin API under /admin/api (described at /admin/api/openapi.json). */
export function adminApi(a: AdminContext) {
  const router = new Router({ prefix: '/admin/api' });
  const document = openApiDocument(a.schemas, a.issuer);

  router.use(async (ctx: Context, next: Next) => {
    // Answers carry generated secrets (client secrets, passwords, TOTP secrets) and personal
    // data: no cache, shared or private, may keep any of them.
    ctx.set('Cache-Control', 'no-store');
    try {
      await next();
    } catch (err) {
      const e = err as { status?: number; message?: string; expose?: boolean };
      if (err instanceof AdminError) {
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
      throw new AdminError(principal.status, principal.code, principal.message);
    }
    if (principal.kind === 'session' && UNSAFE.has(ctx.method) && !csrfMatches(principal.session, ctx.get('x-csrf-token'))) {
      throw new AdminError(403, 'csrf', 'console requests that change something need the X-CSRF-Token header');
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
    ctx.body = await a.actions.listClients();
  });
  router.post('/clients', jsonBody, async (ctx) => {
    created(ctx, await a.actions.createClient(parse(a.schemas.clientCreate, ctx.request.body), by(ctx)));
  });
  router.get('/clients/:id', async (ctx) => {
    ctx.body = await a.actions.getClient(ctx.params.id!);
  });
  router.patch('/clients/:id', jsonBody, async (ctx) => {
    ctx.body = await a.actions.updateClient(ctx.params.id!, parse(a.schemas.clientUpdate, ctx.request.body), by(ctx));
  });
  router.delete('/clients/:id', async (ctx) => {
    await a.actions.deleteClient(ctx.params.id!, by(ctx));
    ctx.status = 204;
  });

  router.get('/users', async (ctx) => {
    ctx.body = await a.actions.listUsers();
  });
  router.post('/users', jsonBody, async (ctx) => {
    created(ctx, await a.actions.createUser(parse(a.schemas.userCreate, ctx.request.body), by(ctx)));
  });
  router.get('/users/:id', async (ctx) => {
    ctx.body = await a.actions.getUser(ctx.params.id!);
  });
  router.post('/users/:id/disable', jsonBody, async (ctx) => {
    ctx.body = { user: await a.actions.setDisabled(ctx.params.id!, true, by(ctx)) };
  });
  router.post('/users/:id/enable', jsonBody, async (ctx) => {
    ctx.body = { user: await a.actions.setDisabled(ctx.params.id!, false, by(ctx)) };
  });
  router.post('/users/:id/password', jsonBody, async (ctx) => {
    ctx.body = await a.actions.resetPassword(ctx.params.id!, parse(a.schemas.passwordReset, ctx.request.body).password, by(ctx));
  });
  router.post('/users/:id/totp', jsonBody, async (ctx) => {
    ctx.body = await a.actions.resetTotp(ctx.params.id!, by(ctx));
  });
  router.post('/users/:id/unlock', jsonBody, async (ctx) => {
    ctx.body = { user: await a.actions.unlock(ctx.params.id!, by(ctx)) };
  });

  router.get('/users/:id/identities', async (ctx) => {
    ctx.body = await a.actions.listIdentities(ctx.params.id!);
  });
  router.post('/users/:id/identities', jsonBody, async (ctx) => {
    const result = await a.actions.linkIdentity(ctx.params.id!, parse(a.schemas.identityLink, ctx.request.body), by(ctx));
    ctx.status = result.created ? 201 : 200;
    ctx.body = { identity: result.identity };
  });
  router.delete('/users/:id/identities/:idp/:subject', async (ctx) => {
    await a.actions.unlinkIdentity(ctx.params.id!, ctx.params.idp!, ctx.params.subject!, by(ctx));
    ctx.status = 204;
  });

  router.get('/identity-providers', async (ctx) => {
    ctx.body = await a.actions.listIdps();
  });
  router.post('/identity-providers', jsonBody, async (ctx) => {
    created(ctx, await a.actions.createIdp(parse(a.schemas.idpCreate, ctx.request.body), by(ctx)));
  });
  router.get('/identity-providers/:name', async (ctx) => {
    ctx.body = await a.actions.getIdp(ctx.params.name!);
  });
  router.patch('/identity-providers/:name', jsonBody, async (ctx) => {
    ctx.body = await a.actions.updateIdp(ctx.params.name!, parse(a.schemas.idpUpdate, ctx.request.body), by(ctx));
  });
  router.delete('/identity-providers/:name', async (ctx) => {
    await a.actions.deleteIdp(ctx.params.name!, by(ctx));
    ctx.status = 204;
  });

  router.get('/audit', async (ctx) => {
    const q = parse(a.schemas.auditQuery, ctx.query);
    const limit = q.limit ?? 100;
    const events = await a.audit.list({
      kind: q.kind, actor: q.actor, clientId: q.client, before: q.before, limit,
      from: q.from ? Date.parse(q.from) : undefined, to: q.to ? Date.parse(q.to) : undefined,
    });
    ctx.body = { events: events.map((e) => ({ ...e, at: new Date(e.at).toISOString() })), next_before: events.length === limit ? events.at(-1)!.id : null };
  });

  return router;
}
