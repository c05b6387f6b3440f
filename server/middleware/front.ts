import type { Context, Next } from 'koa';
import { scopeRequest } from '../storage/request-reads.ts';
import type { RequestLines, RequestMetrics } from '../observability/request-log.ts';
import { finishSecurityHeaders, setSecurityHeaders } from './security-headers.ts';
import wso2Compat from './wso2-compat.ts';

type Middleware = (ctx: Context, next: Next) => Promise<unknown>;

/** oidc-provider's own API endpoints (server/provider/index.ts routes): requests there skip our pages' middleware and routes. */
const PROTOCOL_ONLY = new Set(['/token', '/introspect', '/revoke', '/jwks', '/userinfo']);

export type FrontParts = {
  /** sets ctx.request.ip (server/middleware/client-address.ts) */
  setClientAddress(ctx: Context): void;
  /** what to wait for while the signing keys are being reloaded (server/provider/signing-keys.ts) */
  signingKeysReady(): Promise<void> | undefined;
  lines: RequestLines;
  metrics: RequestMetrics;
  /** a request whose writes could not be committed: its answer is Koa's bare 500, its body and headers discarded */
  notCommitted(ctx: Context, err: unknown): void;
  /** every answer's error page (a thrown error, a 404 or 405 left without a body) */
  errorBoundary: Middleware;
  /** chooses the page's language: before the error boundary, so that its pages are in it */
  chooseLanguage: Middleware;
  /** our pages' routes, in order, before oidc-provider's */
  routes: Middleware[];
};

/** `middleware` run one after another as one. */
function inOrder(middleware: Middleware[]): Middleware {
  return (ctx, next) => {
    const run = (i: number): Promise<unknown> => (i === middleware.length ? next() : middleware[i]!(ctx, () => run(i + 1)));
    return run(0);
  };
}

/**
 * What every request passes before oidc-provider's own middleware, as one layer of Koa
 * middleware: the client's address, WSO2's pasted headers, current signing keys, a request
 * id and log line, security headers, the scope of its reads and uncommitted writes, the error
 * page; then, except on oidc-provider's API endpoints, our pages' middleware and routes.
 * One function rather than a layer each: a Koa layer costs a bound dispatch and a promise,
 * an async one also a frame, per request (a few per cent of a token request's CPU, near
 * what bench:ab can tell apart; README, Benchmarks).
 */
export function front(parts: FrontParts): Middleware {
  const { setClientAddress, signingKeysReady, lines, metrics, notCommitted, errorBoundary } = parts;
  const pages = inOrder([parts.chooseLanguage, errorBoundary, ...parts.routes]);
  return async function front(ctx, next) {
    // First: every later reader of ctx.ip (logs, lockout, audit, conditions) sees the client's address.
    setClientAddress(ctx);
    wso2Compat(ctx);
    // keys rotated or retired by another process sign (or stop being published) here too
    const keys = signingKeysReady();
    if (keys) await keys;
    const began = lines.begin(ctx);
    setSecurityHeaders(ctx);
    // GET /metrics is answered here: logged, not timed.
    const scrape = ctx.path === '/metrics' && ctx.method === 'GET';
    try {
      if (scrape) await metrics.answer(ctx);
      else await scopeRequest(ctx, PROTOCOL_ONLY.has(ctx.path) ? () => errorBoundary(ctx, next) : () => pages(ctx, next));
    } catch (err) {
      if (!scrape) notCommitted(ctx, err);
      throw err;
    } finally {
      finishSecurityHeaders(ctx);
      lines.end(ctx, began, !scrape);
    }
  };
}
