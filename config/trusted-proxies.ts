import ipaddr from 'ipaddr.js';

/**
 * Which proxies in front of stepgate are trusted to append the client's address to
 * `X-Forwarded-For`: none, a number of hops, or the addresses (CIDR ranges) of the proxies.
 */
export type TrustedProxies =
  | { kind: 'none' }
  | { kind: 'hops'; hops: number }
  | { kind: 'ranges'; ranges: [ipaddr.IPv4 | ipaddr.IPv6, number][] };

/**
 * `STEPGATE_TRUSTED_PROXIES`: empty or `0` (no proxy), a hop count (`1`, `2`), or a
 * comma-separated list of addresses or CIDR ranges (`10.0.0.0/8, ::1`). Throws with the
 * offending entry in the message.
 */
export function parseTrustedProxies(text: string): TrustedProxies {
  const value = text.trim();
  if (value === '' || value === '0') return { kind: 'none' };
  if (/^\d+$/.test(value)) {
    const hops = Number(value);
    if (hops > 10) throw new Error(`${hops} hops is not a plausible proxy chain (at most 10)`);
    return { kind: 'hops', hops };
  }
  const ranges = value.split(',').map((entry) => entry.trim()).filter(Boolean).map((entry): [ipaddr.IPv4 | ipaddr.IPv6, number] => {
    try {
      if (entry.includes('/')) return ipaddr.parseCIDR(entry);
      const address = ipaddr.parse(entry);
      return [address, address.kind() === 'ipv4' ? 32 : 128];
    } catch {
      throw new Error(`"${entry}" is neither a hop count nor an address or CIDR range (e.g. 10.0.0.0/8)`);
    }
  });
  return { kind: 'ranges', ranges };
}
