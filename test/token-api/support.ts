import type { TestServer } from '../support/server.ts';

export type Json = Record<string, unknown>;

/** A form POST to one of the broker's endpoints with HTTP Basic client credentials. */
export async function tokenRequest(server: TestServer, clientId: string, form: Record<string, string>, opts: { path?: string; secret?: string } = {}) {
  const secret = opts.secret ?? `${clientId}-secret-0123456789`;
  const res = await fetch(`${server.issuer}${opts.path ?? '/token'}`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form).toString(),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: (text ? JSON.parse(text) : {}) as Json };
}
