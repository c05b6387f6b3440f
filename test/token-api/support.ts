import { execFile } from 'node:child_process';
import type { TestServer } from '../support/server.ts';

export type Json = Record<string, unknown>;

export function basic(clientId: string, secret: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`;
}

/** A form POST to one of the broker's endpoints with HTTP Basic client credentials. */
export async function tokenRequest(server: TestServer, clientId: string, form: Record<string, string>, opts: { path?: string; secret?: string } = {}) {
  const secret = opts.secret ?? `${clientId}-secret-0123456789`;
  const res = await fetch(`${server.issuer}${opts.path ?? '/token'}`, {
    method: 'POST',
    headers: { authorization: basic(clientId, secret), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form).toString(),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: (text ? JSON.parse(text) : {}) as Json };
}

/** RFC 7662 introspection of `token` by a confidential client. */
export async function introspect(server: TestServer, clientId: string, token: string, secret?: string): Promise<Json> {
  return (await tokenRequest(server, clientId, { token }, { path: '/introspect', ...(secret ? { secret } : {}) })).body;
}

/**
 * Runs a curl command line as a user would paste it (through sh), adding only
 * `-s -w` to read the HTTP status after the body.
 */
export function curl(command: string): Promise<{ status: number; text: string; body: Json }> {
  return new Promise((resolve, reject) => {
    execFile('sh', ['-c', `${command} -s -w '\\n%{http_code}'`], { timeout: 15_000 }, (err, stdout) => {
      if (err) return reject(err);
      const cut = stdout.lastIndexOf('\n');
      const text = stdout.slice(0, cut);
      let body: Json = {};
      try {
        body = text ? JSON.parse(text) as Json : {};
      } catch {
        body = {};
      }
      resolve({ status: Number(stdout.slice(cut + 1)), text, body });
    });
  });
}
