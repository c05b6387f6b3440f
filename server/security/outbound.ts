import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import ipaddr from 'ipaddr.js';
import type { Agent } from 'undici';

/**
 * The one way stepgate talks to other servers (OpenID discovery, JWKS, token, userinfo;
 * later back-channel logout and webhooks). Each request is bounded and fenced:
 * - its answer is capped (256 KiB for a GET — metadata, JWKS, userinfo —, 64 KiB for a
 *   POST — token answers), counted as it streams in: past the cap the connection is closed;
 * - it has a deadline for the whole exchange, body included (a slow-loris upstream that
 *   drips a byte a second is cut off), besides undici's header and body idle timeouts;
 * - redirects are not followed, and URLs with credentials are refused;
 * - its target must be a public (global unicast) address unless the caller allows private
 *   networks: checked on the address the name RESOLVES to, at connect time, so a DNS
 *   answer that changes between a check and the connection (rebinding) cannot slip past.
 */

export const MAX_METADATA_BYTES = 256 * 1024;
export const MAX_TOKEN_BYTES = 64 * 1024;

export type OutboundCode = 'private_target' | 'too_large' | 'timeout' | 'redirect' | 'credentials_in_url' | 'bad_url';

/** A request the policy refused or cut off; `message` says why, for the logs. */
export class OutboundError extends Error {
  readonly code: OutboundCode;
  constructor(code: OutboundCode, message: string) {
    super(message);
    this.name = 'OutboundError';
    this.code = code;
  }
}

/** Only global unicast: loopback, private, link-local, unique-local, CGNAT, multicast, documentation… are not. */
export function isPublicAddress(text: string): boolean {
  if (!ipaddr.isValid(text)) return false;
  return ipaddr.process(text).range() === 'unicast';
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** dns.lookup that refuses a name with any non-public address among its answers. */
function publicOnlyLookup(hostname: string, options: LookupOptions, callback: LookupCallback): void {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return callback(err, []);
    const refused = addresses.find((a) => !isPublicAddress(a.address));
    if (refused) return callback(new OutboundError('private_target', `${hostname} resolves to ${refused.address}, which is not a public address`), []);
    if (options.all) return callback(null, addresses);
    return callback(null, addresses[0]!.address, addresses[0]!.family);
  });
}

export type OutboundFetch = (url: string, init: { method: string; headers: Record<string, string>; body?: unknown; signal?: AbortSignal }) => Promise<Response>;

/** The policy's fetch functions; one pool of connections per kind of target. */
export class Outbound {
  readonly #timeoutMs: number;
  /** undici and its two agents, loaded at the first call out (most processes never make one) */
  #undici: Promise<{ fetch: typeof import('undici').fetch; publicOnly: Agent; anyTarget: Agent }> | undefined;

  constructor(options: { timeoutSeconds: number }) {
    this.#timeoutMs = options.timeoutSeconds * 1000;
  }

  #loaded() {
    return this.#undici ??= import('undici').then(({ Agent, fetch }) => {
      const timeouts = { headersTimeout: this.#timeoutMs, bodyTimeout: this.#timeoutMs, connectTimeout: this.#timeoutMs };
      return { fetch, publicOnly: new Agent({ ...timeouts, connect: { lookup: publicOnlyLookup as never } }), anyTarget: new Agent(timeouts) };
    });
  }

  /** A fetch function (openid-client's customFetch shape) under this policy. */
  fetch(target: { allowPrivateNetwork: boolean }): OutboundFetch {
    return (url, init) => this.#request(url, init, target.allowPrivateNetwork);
  }

  async close(): Promise<void> {
    const undici = await this.#undici;
    if (undici) await Promise.all([undici.publicOnly.close(), undici.anyTarget.close()]);
  }

  async #request(text: string, init: Parameters<OutboundFetch>[1], allowPrivateNetwork: boolean): Promise<Response> {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw new OutboundError('bad_url', `"${text}" is not a URL`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new OutboundError('bad_url', `${url.protocol} URLs are not fetched`);
    if (url.username || url.password) throw new OutboundError('credentials_in_url', `${url.host}: credentials in a URL are refused`);
    // An address literal is connected to without a lookup: check it here.
    const host = url.hostname.replace(/^\[|\]$/g, '');
    if (!allowPrivateNetwork && ipaddr.isValid(host) && !isPublicAddress(host)) {
      throw new OutboundError('private_target', `${host} is not a public address`);
    }
    const cap = init.method.toUpperCase() === 'GET' ? MAX_METADATA_BYTES : MAX_TOKEN_BYTES;
    const cutOff = new AbortController();
    const deadline = AbortSignal.timeout(this.#timeoutMs);
    const signal = AbortSignal.any([cutOff.signal, deadline, ...(init.signal ? [init.signal] : [])]);
    const undici = await this.#loaded();
    try {
      const res = await undici.fetch(url, {
        method: init.method, headers: init.headers, body: init.body as never, redirect: 'manual', signal,
        dispatcher: allowPrivateNetwork ? undici.anyTarget : undici.publicOnly,
      });
      if (res.status >= 300 && res.status < 400) {
        cutOff.abort();
        throw new OutboundError('redirect', `${url.host} answered with a redirect (${res.status}), which is not followed`);
      }
      if (Number(res.headers.get('content-length') ?? 0) > cap) {
        cutOff.abort();
        throw new OutboundError('too_large', `${url.host} announced ${res.headers.get('content-length')} bytes (at most ${cap})`);
      }
      const chunks: Uint8Array[] = [];
      let size = 0;
      for await (const chunk of res.body ?? []) {
        size += chunk.byteLength;
        if (size > cap) {
          // Closes the connection: the rest of the answer is never read.
          cutOff.abort();
          throw new OutboundError('too_large', `${url.host} sent more than ${cap} bytes`);
        }
        chunks.push(chunk);
      }
      const empty = res.status === 204 || res.status === 304 || size === 0;
      return new Response(empty ? null : Buffer.concat(chunks), { status: res.status, statusText: res.statusText, headers: res.headers as unknown as Headers });
    } catch (err) {
      throw explain(err, url, deadline);
    }
  }
}

/** undici wraps connect errors in "fetch failed": the policy's own reason is the cause. */
function explain(err: unknown, url: URL, deadline: AbortSignal): unknown {
  if (err instanceof OutboundError) return err;
  const cause = (err as { cause?: unknown }).cause;
  if (cause instanceof OutboundError) return cause;
  if (deadline.aborted) return new OutboundError('timeout', `${url.host} did not answer in time`);
  return err;
}
