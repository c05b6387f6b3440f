import { createHash } from 'node:crypto';

/**
 * What a token, code or session id is stored under: its SHA-256. The values are 256-bit
 * random strings, so the hash cannot be reversed or guessed, and a database dump alone
 * yields nothing that can be presented to the broker.
 */
export default function digest(value: string): string {
  return createHash('sha256').update(value).digest('base64url');
}
