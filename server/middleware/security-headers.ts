import type { Context } from 'koa';

/**
 * Headers for every response. The CSP is set before the request runs so oidc-provider
 * can add the hash of the one inline script it writes (the form_post auto-submit).
 * `form-action 'self'`: our forms post only to us. Chromium also checks each redirect
 * that follows a form submission, so a page whose form ends at a client (consent, a
 * login step's last answer, logout, form_post) adds that client's redirect origin.
 */
const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: https:",   // applications' logos (https only, server/routes/branding.ts)
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** Lets this page's forms lead, through redirects, to `url`'s origin (an http(s) URL; anything else is ignored). */
export function allowFormTarget(ctx: Context, url: unknown): void {
  if (typeof url !== 'string') return;
  let origin: string;
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') return;
    origin = parsed.origin;
  } catch {
    return;
  }
  const csp = ctx.response.get('Content-Security-Policy');
  const directive = /form-action ([^;]*)/.exec(csp);
  if (!directive || directive[1]!.split(' ').includes(origin)) return;
  ctx.set('Content-Security-Policy', csp.replace(directive[0], `${directive[0]} ${origin}`));
}

/** The headers every answer starts with (before the request runs: see the CSP above). */
export function setSecurityHeaders(ctx: Context): void {
  ctx.set('Content-Security-Policy', CSP);
  ctx.set('X-Content-Type-Options', 'nosniff');
  ctx.set('X-Frame-Options', 'DENY');
  ctx.set('Referrer-Policy', 'no-referrer');
  ctx.set('Cross-Origin-Opener-Policy', 'same-origin');
}

/** Once the answer is written: an HTML page is never cached, and its forms may lead to the client. */
export function finishSecurityHeaders(ctx: Context): void {
  // Pages may carry CSRF tokens, codes or personal data: never cache them. (The type is
  // read as set, not through `ctx.response.is`, whose MIME parsing was a measurable part
  // of every token request.)
  const type = ctx.response.get('Content-Type');
  if (typeof type === 'string' && /^text\/html\b/i.test(type)) {
    ctx.set('Cache-Control', 'no-store');
    // oidc-provider's own pages: the form_post answer and the logout confirmation post to
    // (or end at) the client.
    const params = (ctx as { oidc?: { params?: Record<string, unknown> } }).oidc?.params;
    allowFormTarget(ctx, params?.redirect_uri);
    allowFormTarget(ctx, params?.post_logout_redirect_uri);
  }
}
