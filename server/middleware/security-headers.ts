import type { Context, Next } from 'koa';

/**
 * Headers for every response. The CSP is set before the request runs so oidc-provider
 * can add the hash of the one inline script it writes (the form_post auto-submit).
 */
const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: https:",   // applications' logos (https only, server/routes/branding.ts)
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

export default async function securityHeaders(ctx: Context, next: Next) {
  ctx.set('Content-Security-Policy', CSP);
  ctx.set('X-Content-Type-Options', 'nosniff');
  ctx.set('X-Frame-Options', 'DENY');
  ctx.set('Referrer-Policy', 'no-referrer');
  ctx.set('Cross-Origin-Opener-Policy', 'same-origin');
  await next();
  // Pages may carry CSRF tokens, codes or personal data: never cache them.
  if (ctx.response.is('html')) ctx.set('Cache-Control', 'no-store');
}
