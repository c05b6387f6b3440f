import type { Context } from 'koa';

const PASTED = /^(Basic [A-Za-z0-9+/=]+)\s*,\s*Content-Type\s*:/i;

/**
 * What WSO2 API Manager's documented token commands need to work as pasted:
 *
 * - They put two headers in one `-H`: `Authorization: Basic <base64>, Content-Type:
 *   application/x-www-form-urlencoded`. Base64 has no comma, so what follows it is not
 *   part of the credentials (curl sends the real Content-Type itself): keep the credentials.
 * - API Manager 1.5 documents its token API as `POST /login` as well as `/token`: the same
 *   endpoint here.
 */
export default function wso2Compat(ctx: Context): void {
  const match = PASTED.exec(ctx.get('authorization'));
  if (match) ctx.req.headers.authorization = match[1];
  if (ctx.method === 'POST' && ctx.path === '/login') ctx.path = '/token';
}
