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
/** Whether a statement (its text and values) could see the rows a deferred write changes. */
export type Sees = (sql: string, values: Record<string, unknown>) => boolean;
type Scope = {
  reads: Map<string, Read>; commits: Promise<void>[]; began: number;
  /** writes this request was told were done before they were made (`deferWrite`), and how to make them now */
  deferred?: { table: string; written: Promise<void>; now(end: boolean): Promise<void> | undefined; sees?: Sees }[];
};
const store = new AsyncLocalStorage<Scope>();

/**
 * Koa middleware: the scope of one request's remembered reads, and of its writes that are
 * not yet committed (see `answerAfterCommit`): the answer waits for their COMMIT, and
 * fails (500, its headers and body discarded) if that COMMIT fails.
 */
export async function scopeRequest(_ctx: unknown, next: Next): Promise<void> {
  const scope: Scope = { reads: new Map(), commits: [], began: performance.now() };
  try {
    await store.run(scope, next);
  } finally {
    // writes still held back for a later statement of the request are made now
    if (scope.deferred?.length) await store.run(scope, () => deferredWrites(undefined, {}, true));
  }
  while (scope.commits.length) await scope.commits.shift();
}

/**
 * Within a request, a write may be reported done before its transaction commits, as long as
 * the request's answer waits for that COMMIT: returns where to hand the COMMIT's promise,
 * or undefined outside a request (CLI, sweeps), where a write is done only once committed.
 */
export function answerAfterCommit(): ((commit: Promise<void>) => void) | undefined {
  const scope = store.getStore();
  return scope && ((commit) => {
    if (!scope.commits.includes(commit)) scope.commits.push(commit);
  });
}

/**
 * Within a request: `written` is a write to `table` the caller is told is done before it
 * is made (it is made with others later, at the latest by `now()`, which returns what a
 * later statement must wait for, if anything). The request's next statement naming that
 * table that `sees` its rows (`deferredWrites`) and its end make it now (at the end, `now`
 * is told so: it may leave the write to others' that are under way); its answer waits
 * for it, and fails if it does. False outside a request, where the caller must wait for it
 * itself.
 */
export function deferWrite(table: string, written: Promise<void>, now: (end: boolean) => Promise<void> | undefined, sees?: Sees): boolean {
  const scope = store.getStore();
  if (!scope) return false;
  (scope.deferred ??= []).push({ table, written, now, sees });
  if (!scope.commits.includes(written)) scope.commits.push(written);
  // a failure is the answer's to report (scopeRequest), not an unhandled rejection meanwhile
  written.catch(() => {});
  return true;
}

/**
 * The writes this request deferred to a table that `sql` names (every table when `sql` is
 * undefined), made now: the statement waits for them first. Writes to other tables, and
 * those that say the statement cannot see their rows (`sees`), stay deferred, to be
 * written with other requests' later. `end`: the request is done.
 */
export function deferredWrites(sql?: string, values: Record<string, unknown> = {}, end = false): Promise<unknown> | undefined {
  const deferred = store.getStore()?.deferred;
  if (!deferred?.length) return undefined;
  const due = deferred.filter((w) => sql === undefined || (sql.includes(w.table) && (!w.sees || w.sees(sql, values))));
  if (!due.length) return undefined;
  const waits: Promise<void>[] = [];
  for (const w of due) {
    deferred.splice(deferred.indexOf(w), 1);
    const wait = w.now(end);
    if (wait) waits.push(wait);
  }
  return waits.length ? Promise.all(waits) : undefined;
}

/** A Sequelize transaction begun within a request: first, the request's own writes are committed (so that it sees them). */
export async function ownWritesCommitted(): Promise<void> {
  const scope = store.getStore();
  await deferredWrites();
  if (scope) for (const commit of scope.commits) await commit;
}

/** The current request (an opaque key, the same for all of its work), or undefined outside one. */
export function currentRequest(): object | undefined {
  return store.getStore();
}

/** Runs `work` outside any request: work done on behalf of several requests at once. */
export function outsideRequests<T>(work: () => T): T {
  return store.exit(work);
}

/**
 * True when `lookedAt` (a `performance.now()` taken just before a look, such as whether
 * another process wrote to the database) is later than this request's start: that look
 * already saw everything done before the request was sent, whichever request made it.
 * Always false outside a request.
 */
export function lookedSinceRequestBegan(lookedAt: number): boolean {
  const scope = store.getStore();
  return scope !== undefined && lookedAt >= scope.began;
}

/** `read()` once per request under `key`; `tables` are those it reads (a write to one forgets it). */
export function readOnce<T>(tables: readonly string[], key: string, read: () => Promise<T>): Promise<T> {
  const reads = store.getStore()?.reads;
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
  store.getStore()?.reads.set(key, { tables, value: Promise.resolve(value) });
}

/** A write to `table` in this request: forget what was read from it. */
export function forgetReads(table: string): void {
  const reads = store.getStore()?.reads;
  if (!reads) return;
  for (const [key, read] of reads) if (read.tables.includes(table)) reads.delete(key);
}
