import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';
import pg from 'pg';
import { answerAfterCommit, currentRequest, lookedSinceRequestBegan } from './request-reads.ts';
import { lockWanted } from './sqlite-driver.ts';

/**
 * The hot path of `Database.change` / `Database.select`: prepared statements straight on
 * the driver, without Sequelize's per-query work (measured per indexed SELECT: SQLite
 * 384 µs through Sequelize, 4 µs here; PostgreSQL 706 µs, 339 µs here). Sequelize
 * still runs the migrations, the query-interface helpers and anything in a transaction.
 *
 * SQLite uses Node's synchronous driver on a connection of its own to the same WAL-mode
 * file (see sqliteStatements for group commit and how it never blocks the event loop on a
 * lock); Sequelize's connections use the same driver (server/storage/sqlite-driver.ts).
 * Inside a transaction, pass it to every statement: those go through Sequelize on the
 * transaction's own connection.
 */
export type Statements = {
  change(sql: string, values: Record<string, unknown>): Promise<number>;
  /** SQLite: changes whenever another connection (or process) commits (PRAGMA data_version) */
  dataVersion?(): number;
  /** SQLite: the next read sees every commit made so far (called after each of Sequelize's statements: its commits) */
  endSnapshot?(): void;
  select<T extends object>(sql: string, values: Record<string, unknown>): Promise<T[]>;
  close(): Promise<void>;
};

/** `:name` placeholders, not PostgreSQL `::type` casts. */
const PLACEHOLDER = /(?<![:\w]):([A-Za-z_]\w*)/g;

/**
 * PostgreSQL text cannot hold NUL, SQLite can: so that both behave alike, nothing stored
 * ever contains NUL (it is written as U+FFFD) and a lookup by a value containing NUL
 * finds nothing instead of failing.
 */
const NUL = '\u0000';
const hasNul = (values: Record<string, unknown>) => Object.values(values).some((v) => typeof v === 'string' && v.includes(NUL));

function bindable(v: unknown, booleansAsNumbers: boolean): unknown {
  if (v === undefined || v === null) return null;
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'string') return v.replaceAll(NUL, '\ufffd');
  if (typeof v === 'boolean' && booleansAsNumbers) return v ? 1 : 0;
  return v;
}

/**
 * The statement's text with each `:name` numbered (`$1` for the first name, the same
 * number wherever a name repeats), and the names in that order: values are bound by
 * position. (SQLite finds a named parameter by a linear search, so binding by name is
 * quadratic in the count: a 32-row audit INSERT (224 values) took 300-430 µs bound by
 * name, 30-50 µs by position.)
 */
function numbered(sql: string): { text: string; names: string[] } {
  const names: string[] = [];
  const text = sql.replace(PLACEHOLDER, (_m, name: string) => {
    let i = names.indexOf(name);
    if (i < 0) i = names.push(name) - 1;
    return `$${i + 1}`;
  });
  return { text, names };
}

/**
 * SQLite's form: each `:name` becomes an anonymous `?`, and a name that repeats is bound
 * again at each place. node:sqlite asks SQLite each parameter's name as it binds, a linear
 * search among the named ones, so `?1`-style numbers were still quadratic: a 16-row INSERT
 * (128 values) took 30 µs to bind and run numbered, 10 µs anonymous (node:sqlite alone).
 */
function anonymous(sql: string): { text: string; names: string[] } {
  const names: string[] = [];
  const text = sql.replace(PLACEHOLDER, (_m, name: string) => {
    names.push(name);
    return '?';
  });
  return { text, names };
}

function checked(names: string[], values: Record<string, unknown>, sql: string): void {
  for (const name of names) {
    if (!(name in values)) throw new TypeError(`SQL names :${name} but no value was given: ${sql.slice(0, 80)}`);
    if (Array.isArray(values[name])) throw new TypeError(`SQL value :${name} is an array; bind each element as its own value`);
  }
}

const SQLITE_BUSY = 5;
/**
 * Rows as plain objects, as the other drivers give them (callers and deepEqual expect
 * them). node:sqlite's own row objects have no prototype and are made as dictionaries:
 * made here from its arrays instead, a row of oidc_payloads took 1.3 µs instead of 3.1
 * (Node 24, 200,000 rows). The column names are the prepared statement's, read again if
 * a row's length says the schema changed under it (SQLite prepares it again then: a
 * migration run by another process).
 */
type Prepared = { statement: StatementSync; names: string[]; columns: string[] };
function rowsOf(prepared: Prepared, arrays: unknown): Record<string, unknown>[] {
  const rows: Record<string, unknown>[] = [];
  for (const values of arrays as unknown[][]) {
    if (values.length !== prepared.columns.length) prepared.columns = prepared.statement.columns().map((c) => c.name);
    const { columns } = prepared;
    const row: Record<string, unknown> = {};
    for (let i = 0; i < columns.length; i++) row[columns[i]!] = values[i];
    rows.push(row);
  }
  return rows;
}
/** How long a statement waits for another connection's write lock before it fails (as busy_timeout did). */
const BUSY_DEADLINE_MS = 5000;
const isBusy = (err: unknown) => (err as { errcode?: number }).errcode !== undefined && ((err as { errcode: number }).errcode & 0xff) === SQLITE_BUSY;

type Waiter = {
  sql: string; values: Record<string, unknown>; rows: boolean; resolve(result: unknown): void; reject(e: unknown): void; since: number;
  /** within a request: told the result at once, and handed the COMMIT for the answer to wait on */
  early?: (commit: Promise<void>) => void;
};

/** INSERT ... RETURNING and the like come through `select` but write: they join the write queue. */
const READ_ONLY = /^\s*(\/\*.*?\*\/\s*)*(SELECT|PRAGMA)\b/is;

/**
 * SQLite through Node's synchronous driver (`node:sqlite`): a statement costs a few
 * microseconds instead of a thread-pool hand-off (~0.1 ms of CPU each).
 *
 * Group commit: every write of one event-loop turn runs in one transaction, committed at
 * the end of the turn (setImmediate). Outside a request each caller is resolved only after
 * that COMMIT. Within a request (server/storage/request-reads.ts) a caller is told the
 * result as soon as the statement has run, and the request's answer waits for the COMMIT
 * (and fails if it fails): a request's several writes then share one commit instead of
 * one each, and nothing leaves the process before its writes are durable. Either way a
 * statement's own outcome (a row changed or not, a constraint) is known when it runs, as
 * this connection runs writes one at a time.
 *
 * The hazard of a synchronous driver: a statement that waits for the write lock blocks
 * the event loop, and if the lock is held by a transaction of this same process on
 * another connection (Sequelize's, for admin changes and just-in-time provisioning: also
 * node:sqlite, server/storage/sqlite-driver.ts), that transaction can never finish. So
 * this connection never waits inside SQLite (busy timeout 0): when the lock is taken it
 * gets SQLITE_BUSY at once, and the writes queue and retry from a timer, letting the
 * event loop run whoever holds the lock, for up to 5 s as the busy timeout did (and while
 * a statement of Sequelize's waits so, this connection begins no transaction: lockWanted).
 * Reads (WAL: they never take the write lock) that meet
 * SQLITE_BUSY in a rare WAL recovery retry the same way. Reads run on this connection, so
 * a read in the same turn as a write sees that write before it is committed; nobody is
 * told a write happened before its COMMIT.
 */
function sqliteStatements(file: string): Statements {
  const db = new DatabaseSync(file, { timeout: 0 });
  db.exec('PRAGMA synchronous=NORMAL');
  // This connection makes nearly every commit, so it runs nearly every automatic checkpoint
  // (copying the WAL into the database file, then an fsync; the event loop waits for it):
  // every 10,000 pages (a WAL of up to 40 MB) instead of 1000, so that a page written by
  // many commits (an index's last leaf, the audit table's end) is copied once per
  // checkpoint, not ten times. Measured with node:sqlite alone, four rows per commit: one
  // commit 200 to 170 µs of CPU; a checkpoint holds the event loop 55 ms every 10,000 pages
  // instead of 13-20 ms every 1000. (A PASSIVE checkpoint run every few seconds from a
  // connection on the thread pool was tried: under continuous commits it never catches up
  // with the last frame, so the WAL never starts over and the 20,000-page backstop it
  // needed ran on the event loop anyway.)
  db.exec('PRAGMA wal_autocheckpoint=10000');
  // Group commit runs many statements in one transaction, so each upsert keeps a statement
  // journal (to undo that statement alone if it fails); a multi-row upsert's outgrows 64 KiB
  // and SQLite spilled it to a temporary file: created, written and deleted once per commit.
  // In memory instead: under refreshes, the process's CPU samples in the statement journal
  // (its code and its file's system calls) fell from 3.5 % to 0.3 %, all its samples in
  // system calls from 10.6 % to 6.6 % (perf, one round of 2,500-3,000 refreshes each).
  db.exec('PRAGMA temp_store=MEMORY');
  const cache = new Map<string, Prepared>();
  const prepare = (sql: string, values: Record<string, unknown>) => {
    let entry = cache.get(sql);
    if (!entry) {
      const { text, names } = anonymous(sql);
      const statement = db.prepare(text);
      statement.setReturnArrays(true);
      entry = { statement, names, columns: statement.columns().map((c) => c.name) };
      cache.set(sql, entry);
    }
    checked(entry.names, values, sql);
    const params = entry.names.map((name) => bindable(values[name], true) as SQLInputValue);
    return { prepared: entry, params };
  };

  /** Writes run in the open transaction, waiting for COMMIT to be told their result. */
  let committing: { resolve(): void; reject(e: unknown): void }[] | undefined;
  /** the open transaction's COMMIT, for requests told early */
  let committed: { promise: Promise<void>; resolve(): void; reject(e: unknown): void } | undefined;
  const queue: Waiter[] = [];
  let retry: NodeJS.Timeout | undefined;
  let backoff = 1;

  const commit = () => {
    const done = committing!;
    const told = committed!;
    committing = undefined;
    committed = undefined;
    try {
      db.exec('COMMIT');
    } catch (err) {
      if (db.isTransaction) db.exec('ROLLBACK');
      for (const d of done) d.reject(err);
      told.reject(err);
      drain();
      return;
    }
    for (const d of done) d.resolve();
    told.resolve();
    drain();
  };

  const drain = () => {
    if (!queue.length || retry) return;
    if (!committing) {
      try {
        // a Sequelize statement of this process waiting for the lock goes first (as for a lock taken)
        if (lockWanted()) throw Object.assign(new Error('database is locked (a statement of this process on another connection waits for it)'), { errcode: SQLITE_BUSY });
        // the write transaction reads from the latest commit, not from the turn's snapshot
        endSnapshot();
        db.exec('BEGIN IMMEDIATE');
      } catch (err) {
        if (!isBusy(err)) {
          for (const w of queue.splice(0)) w.reject(err);
          return;
        }
        const now = Date.now();
        while (queue.length && now - queue[0]!.since > BUSY_DEADLINE_MS) queue.shift()!.reject(err);
        if (!queue.length) return;
        retry = setTimeout(() => { retry = undefined; drain(); }, backoff);
        backoff = Math.min(backoff * 2, 16);
        return;
      }
      backoff = 1;
      committing = [];
      committed = Promise.withResolvers<void>();
      // awaited by the requests told early, if any
      committed.promise.catch(() => {});
      setImmediate(commit);
    }
    for (const w of queue.splice(0)) {
      let result: unknown;
      try {
        const { prepared, params } = prepare(w.sql, w.values);
        // A failing statement (a constraint, say) is undone alone; the transaction goes on.
        result = w.rows ? rowsOf(prepared, prepared.statement.all(...params)) : Number(prepared.statement.run(...params).changes);
      } catch (err) {
        w.reject(err);
        continue;
      }
      if (w.early) {
        w.early(committed!.promise);
        w.resolve(result);
      } else {
        committing!.push({ resolve: () => w.resolve(result), reject: w.reject });
      }
    }
  };

  /**
   * Within requests, the reads of one event-loop turn outside a write transaction share one
   * read transaction, begun at the first (`snapshotAt`, its performance.now()) and committed
   * at the end of the turn: on its own, each read takes and drops SQLite's read lock, two to
   * four fcntl calls, and a system call costs this machine's kind of virtual machine about
   * 5 µs (perf: the kernel's share of an introspection request was three times the bare
   * oidc-provider's). A request never reads from a snapshot older than itself: every
   * commit made before it began, in any process, is seen.
   */
  let snapshotAt: number | undefined;
  const endSnapshot = () => {
    if (snapshotAt === undefined) return;
    snapshotAt = undefined;
    // (a write transaction begun meanwhile has taken it over: drain ended it first)
    if (committing || !db.isTransaction) return;
    try {
      db.exec('COMMIT');
    } catch {
      // ending a read changes nothing; it must not be left open (it runs from a timer too)
      if (db.isTransaction) db.exec('ROLLBACK');
    }
  };
  /** Ends the open snapshot when it is older than the request under way (or there is none). */
  const endStaleSnapshot = () => {
    if (snapshotAt !== undefined && !lookedSinceRequestBegan(snapshotAt)) endSnapshot();
  };
  const readInSnapshot = () => {
    if (committing) return;
    // outside requests (CLI, sweeps, batched writes) every read sees the latest commit
    if (!currentRequest()) return endSnapshot();
    endStaleSnapshot();
    if (snapshotAt !== undefined) return;
    db.exec('BEGIN');
    snapshotAt = performance.now();
    setImmediate(endSnapshot);
  };

  const read = <T>(sql: string, values: Record<string, unknown>, since = Date.now()): Promise<T[]> => {
    try {
      readInSnapshot();
      const { prepared, params } = prepare(sql, values);
      return Promise.resolve(rowsOf(prepared, prepared.statement.all(...params)) as T[]);
    } catch (err) {
      if (!isBusy(err) || Date.now() - since > BUSY_DEADLINE_MS) return Promise.reject(err);
      return new Promise((resolve) => setTimeout(resolve, 2)).then(() => read<T>(sql, values, since));
    }
  };

  const write = <R>(sql: string, values: Record<string, unknown>, rows: boolean) => new Promise<R>((resolve, reject) => {
    queue.push({ sql, values, rows, resolve: resolve as (r: unknown) => void, reject, since: Date.now(), early: answerAfterCommit() });
    drain();
  });

  const dataVersion = db.prepare('PRAGMA data_version');
  dataVersion.setReturnArrays(true);
  return {
    change: (sql, values) => write<number>(sql, values, false),
    endSnapshot,
    dataVersion() {
      // Inside a snapshot data_version stays as it was when the snapshot began, so a stale
      // one is ended first; within a request the look then begins the turn's snapshot, and
      // the request's reads share its read lock.
      readInSnapshot();
      return Number((dataVersion.get() as unknown as [number])[0]);
    },
    select<T extends object>(sql: string, values: Record<string, unknown>) {
      if (hasNul(values)) return Promise.resolve([]);
      // A read never waits behind writes queued while another connection holds the write
      // lock: that may be a transaction of this process waiting for this very read. Such
      // writes have not run, and whoever made them is still waiting to be told (a request
      // waits for its writes before its next statement: server/storage/request-reads.ts).
      return READ_ONLY.test(sql) ? read<T>(sql, values) : write<T[]>(sql, values, true);
    },
    async close() {
      while (committing || queue.length) await new Promise((resolve) => setTimeout(resolve, 5));
      endSnapshot();
      db.close();
    },
  };
}

function postgresStatements(url: string): Statements {
  const pool = new pg.Pool({ connectionString: url, max: 10, idleTimeoutMillis: 10_000 });
  // An idle connection the server ends (a restart, a failover, pg_terminate_backend) is
  // reported here, and an unheard 'error' would end the process: the pool has already
  // dropped it and the next statement opens another. (A statement under way gets its own error.)
  pool.on('error', () => {});
  const cache = new Map<string, { name: string; text: string; names: string[] }>();
  const query = (sql: string, values: Record<string, unknown>) => {
    let entry = cache.get(sql);
    if (!entry) {
      const { text, names } = numbered(sql);
      // A named statement is prepared once per connection, then only executed.
      entry = { name: `stepgate_${cache.size}`, text, names };
      cache.set(sql, entry);
    }
    checked(entry.names, values, sql);
    return pool.query({ name: entry.name, text: entry.text, values: entry.names.map((n) => bindable(values[n], false)) });
  };
  return {
    async change(sql, values) {
      return (await query(sql, values)).rowCount ?? 0;
    },
    async select<T extends object>(sql: string, values: Record<string, unknown>) {
      if (hasNul(values)) return [];
      return (await query(sql, values)).rows as T[];
    },
    close: () => pool.end(),
  };
}

/** Statements for `url`, or undefined where a second connection would not see the same data (SQLite in memory). */
export function openStatements(url: string): Statements | undefined {
  if (url.startsWith('sqlite:')) {
    const file = url.slice('sqlite:'.length);
    return file === ':memory:' || file === '' ? undefined : sqliteStatements(file);
  }
  return postgresStatements(url);
}
