import { randomUUID } from 'node:crypto';
import type { Context } from 'koa';
import { requestLineWriter, type Logger } from '../logger.ts';

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

/**
 * The request's child logger of `logger` (every line carries the request's id), made at the
 * first call and kept on ctx.state; `logger` itself outside a request. Made on demand: most
 * requests log nothing but their line, which names the id itself.
 */
export function requestLogger(ctx: Context | undefined, logger: Logger): Logger {
  const state = ctx?.state as { requestId?: string; log?: Logger } | undefined;
  if (!state?.requestId) return logger;
  return (state.log ??= logger.child({ reqId: state.requestId }));
}

/** What the metrics (server/observability/metrics.ts) take from every request. */
export type RequestMetrics = {
  /** answers GET /metrics */
  answer(ctx: Context): Promise<void>;
  requestDone(method: string, route: string, status: number, seconds: number): void;
};

/** One request's line and latency: `begin` as it arrives, `end` once it is answered. */
export type RequestLines = {
  /** gives the request its id and returns when it began */
  begin(ctx: Context): number;
  /** writes its line and counts its latency (unless `timed` is false: a metrics scrape is not timed) */
  end(ctx: Context, began: number, timed?: boolean): void;
};

/**
 * Gives every request an id (the caller's X-Request-Id when usable, else a new UUID),
 * returns it in X-Request-Id, keeps it on `ctx.state.requestId` (for `requestLogger`),
 * writes one line per request and counts its latency in the metrics. The line has the
 * path without its query string: queries carry codes, states and PKCE values.
 */
export function requestLines(logger: Logger, metrics: RequestMetrics): RequestLines {
  const write = requestLineWriter(logger);
  return {
    begin(ctx) {
      const incoming = ctx.get('X-Request-Id');
      const reqId = USABLE_ID.test(incoming) ? incoming : randomUUID();
      // (A lazy getter for the child logger, defined on ctx.state per request, cost V8 a
      // property-descriptor conversion and a map change on every request.)
      ctx.state.requestId = reqId;
      ctx.set('X-Request-Id', reqId);
      return performance.now();
    },
    end(ctx, began, timed = true) {
      const ms = performance.now() - began;
      const route = routeName(ctx);
      const { method, status } = ctx;
      if (timed) metrics.requestDone(method, route, status, ms / 1000);
      write({ reqId: ctx.state.requestId as string, method, route, path: ctx.path, status, ms: Math.round(ms * 10) / 10 });
    },
  };
}
