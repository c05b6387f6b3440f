import ipaddr from 'ipaddr.js';
import type { Context } from 'koa';
import type { TrustedProxies } from '../../config/trusted-proxies.ts';

/** An address in one spelling: IPv4-mapped IPv6 (`::ffff:10.0.0.1`) as plain IPv4; undefined for anything else. */
function parse(text: string): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  // Strict spellings only: ipaddr.isValid also takes "1" or "0x7f.1", which no proxy writes.
  if (!ipaddr.IPv4.isValidFourPartDecimal(text) && !ipaddr.IPv6.isValid(text)) return undefined;
  return ipaddr.process(text);
}

function trusted(address: ipaddr.IPv4 | ipaddr.IPv6, ranges: [ipaddr.IPv4 | ipaddr.IPv6, number][]): boolean {
  return ranges.some((range) => address.kind() === range[0].kind() && address.match(range));
}

/**
 * The client's address, read from the right: the peer of the TCP connection, then each
 * `X-Forwarded-For` entry a trusted proxy appended. The first hop that is not a trusted
 * proxy is the client; anything to its left was written by the client and is ignored
 * (an appending proxy turns a forged `X-Forwarded-For: 1.2.3.4` into `1.2.3.4, <real>`).
 */
export function clientAddress(peer: string, forwardedFor: string | undefined, proxies: TrustedProxies): string {
  const chain = [...(forwardedFor ?? '').split(',').map((s) => s.trim()).filter(Boolean), peer];
  let index = chain.length - 1;
  let address = parse(peer);
  if (!address) return peer;
  const stillTrusted = (at: number, a: ipaddr.IPv4 | ipaddr.IPv6) => proxies.kind === 'hops' ? chain.length - 1 - at < proxies.hops : proxies.kind === 'ranges' && trusted(a, proxies.ranges);
  while (index > 0 && stillTrusted(index, address)) {
    const next = parse(chain[index - 1]!);
    // A trusted proxy that handed on something that is not an address: it is the last hop we can name.
    if (!next) break;
    address = next;
    index -= 1;
  }
  return address.toString();
}

/**
 * What sets `ctx.request.ip`, first thing, so every reader of `ctx.ip` — lockout, audit,
 * grants, login pages, request logs, network conditions — sees the same address.
 */
export function clientAddressSetter(proxies: TrustedProxies): (ctx: Context) => void {
  // Parsing addresses (ipaddr.js) was a tenth of a token request's CPU, and the same peers
  // and headers come again and again: short ones are remembered (bounded, so a flood of
  // distinct headers costs at most 1000 entries).
  const known = new Map<string, string>();
  return function setClientAddress(ctx: Context) {
    const peer = ctx.req.socket.remoteAddress ?? '';
    const forwardedFor = ctx.get('X-Forwarded-For') || undefined;
    const key = `${peer} ${forwardedFor ?? ''}`;
    let ip = known.get(key);
    if (ip === undefined) {
      ip = clientAddress(peer, forwardedFor, proxies);
      if (key.length <= 256) {
        if (known.size >= 1000) known.clear();
        known.set(key, ip);
      }
    }
    ctx.request.ip = ip;
  };
}
