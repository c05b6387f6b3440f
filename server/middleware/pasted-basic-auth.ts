import type { Context, Next } from 'koa';

const PASTED = /^(Basic [A-Za-z0-9+/=]+)\s*,\s*Content-Type\s*:/i;

/**
 * WSO2 API Manager's documented curl commands put two headers in one `-H`:
 * `Authorization: Basic <base64>, Content-Type: application/x-www-form-urlencoded`.
 * Base64 has no comma, so what follows it is not part of the credentials; the request's
 * real Content-Type comes from curl's own header. Keeping only the credentials lets
 * those commands work as pasted.
 */
export default async function pastedBasicAuth(ctx: Context, next: Next): Promise<void> {
  const match = PASTED.exec(ctx.get('authorization'));
  if (match) ctx.req.headers.authorization = match[1];
  await next();
}
