import { AsyncLocalStorage } from 'node:async_hooks';
import type { Next } from 'koa';

/**
 * Reads remembered for the length of one HTTP request: a login's request asks for the same
 * user, interaction or session several times (the plan, oidc-provider's findAccount, the
 * consent page), and each is read from the database once. Requests never share what they
 * read; a write to a table a remembered read came from forgets that read, so a request
 * always sees its own writes. Outside a request (CLI, sweeps) nothing is remembered.
 */
type Read = { tables: readonly string[]; value: Promise<unknown> };
const store = new AsyncLocalStorage<Map<string, Read>>();

/** Koa middleware: the scope of one request's remembered reads. */
export function rememberReadsPerRequest(_ctx: unknown, next: Next): Promise<void> {
  return store.run(new Map(), next);
}

/** `read()` once per request under `key`; `tables` are those it reads (a write to one forgets it). */
export function readOnce<T>(tables: readonly string[], key: string, read: () => Promise<T>): Promise<T> {
  const reads = store.getStore();
  if (!reads) return read();
  const known = reads.get(key);
  if (known) return known.value as Promise<T>;
  const value = read();
  reads.set(key, { tables, value });
  value.catch(() => reads.delete(key));
  return value;
}

/** Remembers `value` under `key` as if just read (what a request has just written). */
export function remember(tables: readonly string[], key: string, value: unknown): void {
  store.getStore()?.set(key, { tables, value: Promise.resolve(value) });
}

/** A write to `table` in this request: forget what was read from it. */
export function forgetReads(table: string): void {
  const reads = store.getStore();
  if (!reads) return;
  for (const [key, read] of reads) if (read.tables.includes(table)) reads.delete(key);
}
