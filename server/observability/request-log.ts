import { randomUUID } from 'node:crypto';
import type { Context, Next } from 'koa';
import { requestLineLogger, type Logger } from '../logger.ts';

/** An incoming X-Request-Id is kept only when it is short and plain (it ends up in every log line). */
const USABLE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * The route a request matched, as a pattern (`token`, `/interaction/:uid/step/:step`), so
 * that metrics and logs have a bounded set of names; `unmatched` for anything else.
 */
export function routeName(ctx: Context): string {
  const oidc = (ctx as { oidc?: { route?: string } }).oidc;
  return oidc?.route ?? (ctx as { _matchedRoute?: string })._matchedRoute ?? 'unmatched';
}

/** The request's child logger (every line carries its reqId), or `fallback` outside a request. */
export function requestLogger(ctx: Context | undefined, fallback: Logger): Logger {
  return (ctx?.state as { log?: Logger } | undefined)?.log ?? fallback;
}

/**
 * Gives every request an id (the caller's X-Request-Id when usable, else a new UUID),
 * returns it in X-Request-Id, offers a child logger carrying it on `ctx.state.log`, and
 * writes one line per request. The child logger is made only when something logs
 * through it (most requests log nothing but their line, which names the id itself).
 * The line has the path without its query string: queries carry codes, states and PKCE
 * values.
 */
export function requestLog(logger: Logger) {
  const lines = requestLineLogger(logger);
  return async (ctx: Context, next: Next) => {
    const incoming = ctx.get('X-Request-Id');
    const reqId = USABLE_ID.test(incoming) ? incoming : randomUUID();
    let log: Logger | undefined;
    Object.defineProperty(ctx.state, 'log', { get: () => (log ??= logger.child({ reqId })), configurable: true, enumerable: true });
    ctx.state.requestId = reqId;
    ctx.set('X-Request-Id', reqId);
    const started = performance.now();
    try {
      await next();
    } finally {
      lines.info({ reqId, method: ctx.method, route: routeName(ctx), path: ctx.path, status: ctx.status, ms: Math.round((performance.now() - started) * 10) / 10 }, 'request');
    }
  };
}
