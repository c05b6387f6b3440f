import { hash } from 'node:crypto';

/**
 * What a token, code or session id is stored under: its SHA-256. The values are 256-bit
 * random strings, so the hash cannot be reversed or guessed, and a database dump alone
 * yields nothing that can be presented to the broker.
 */
export default function digest(value: string): string {
  // the one-shot crypto.hash: 0.5 µs where createHash().update().digest() took 1.35 (a token request makes several)
  return hash('sha256', value, 'base64url');
}
