import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';

/**
 * The part of the `sqlite3` package's callback API that Sequelize's SQLite dialect uses,
 * over Node's own SQLite (`node:sqlite`), given to Sequelize as its `dialectModule`.
 *
 * Why: the hot path (server/storage/statements.ts) runs on node:sqlite, and SQLite's locks
 * exclude only connections made by the same copy of SQLite: POSIX advisory locks never
 * conflict within one process, and each copy keeps its own account of them. With Sequelize
 * on the sqlite3 package's copy, the two wrote over each other's WAL frames unless they
 * took turns by hand. With one copy, SQLite itself keeps every connection of the process
 * apart, as it keeps processes apart. (It also spares installing, or compiling, sqlite3.)
 *
 * Statements run synchronously, so no connection ever waits for a lock inside SQLite: that
 * would stop the event loop, and with it whoever holds the lock when that is this process
 * (the hot path's group commit, another transaction). Every connection has busy timeout 0;
 * a statement that finds the database locked is tried again from a timer, for up to 5 s
 * (what busy_timeout=5000 waited), and the connection's later statements wait behind it.
 * A locked statement has done nothing, so trying it again is safe.
 */

/** sqlite3's open flags (Sequelize passes them back to the constructor) */
export const OPEN_READONLY = 0x1;
export const OPEN_READWRITE = 0x2;
export const OPEN_CREATE = 0x4;

const BUSY_DEADLINE_MS = 5000;

/** Statements of this driver now waiting to be tried again because the database was locked. */
let waiting = 0;
/**
 * Whether a statement of this process's Sequelize connections is waiting for a lock: the
 * hot path then begins no transaction until it has had its turn. Without that, writes that
 * follow one another as fast as the hot path commits them (each caller told after the
 * COMMIT, and writing again at once) kept the lock taken whenever a waiting statement was
 * tried again, and a transaction failed after its 5 s (test/unit/sqlite-two-libraries).
 */
export const lockWanted = (): boolean => waiting > 0;

/** SQLite's primary result codes, by number: sqlite3 names its errors `SQLITE_<NAME>`, which Sequelize reads. */
const RESULT_NAMES = ['OK', 'ERROR', 'INTERNAL', 'PERM', 'ABORT', 'BUSY', 'LOCKED', 'NOMEM', 'READONLY', 'INTERRUPT', 'IOERR', 'CORRUPT',
  'NOTFOUND', 'FULL', 'CANTOPEN', 'PROTOCOL', 'EMPTY', 'SCHEMA', 'TOOBIG', 'CONSTRAINT', 'MISMATCH', 'MISUSE', 'NOLFS', 'AUTH', 'FORMAT', 'RANGE', 'NOTADB'];

const primaryCode = (err: unknown): number | undefined => {
  const code = (err as { errcode?: unknown }).errcode;
  return typeof code === 'number' ? code & 0xff : undefined;
};

/** node:sqlite's error as sqlite3 reports it ("SQLITE_CONSTRAINT: UNIQUE constraint failed: …", code SQLITE_CONSTRAINT). */
function asSqlite3Error(err: unknown): unknown {
  const code = primaryCode(err);
  if (code === undefined) return err;
  const name = `SQLITE_${RESULT_NAMES[code] ?? code}`;
  return Object.assign(new Error(`${name}: ${(err as Error).message}`), { code: name, errno: code });
}

type Params = Record<string, unknown> | unknown[] | undefined;
type Callback = (this: Statement, err: unknown, rows?: unknown) => void;

/** What sqlite3 binds that node:sqlite refuses: booleans (as 1 and 0), undefined (as NULL), dates (as epoch milliseconds). */
function bindable(v: unknown): SQLInputValue {
  if (v === undefined) return null;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (v instanceof Date) return v.getTime();
  return v as SQLInputValue;
}

/** `this` of a `run` callback, as sqlite3's: the row id of the last insert and the rows changed. (Sequelize checks the class name.) */
class Statement {
  readonly lastID: number;
  readonly changes: number;
  constructor(lastID: number, changes: number) {
    this.lastID = lastID;
    this.changes = changes;
  }
}

type Job = { sql: string; params: Params; kind: 'run' | 'all' | 'exec'; callback?: Callback; since: number; waiting?: boolean };

export class Database {
  readonly filename: string;
  readonly #db: DatabaseSync | undefined;
  readonly #prepared = new Map<string, StatementSync>();
  readonly #jobs: Job[] = [];
  #closing: (() => void) | undefined;
  /** ms before a locked statement is tried again: doubled each time, up to 16 */
  #backoff = 1;

  constructor(filename: string, mode?: number | ((err: unknown) => void), callback?: (err: unknown) => void) {
    if (typeof mode === 'function') [callback, mode] = [mode, undefined];
    this.filename = filename;
    let error: unknown = null;
    try {
      this.#db = new DatabaseSync(filename, { timeout: 0, readOnly: mode !== undefined && (mode & OPEN_READWRITE) === 0 });
    } catch (err) {
      error = asSqlite3Error(err);
    }
    // sqlite3 opens asynchronously: Sequelize keeps the object before the callback runs
    process.nextTick(() => callback?.(error));
  }

  /** sqlite3 runs a serialized block's statements in order: every statement here is run in order. */
  serialize(block?: () => void): void {
    block?.();
  }

  run(sql: string, params?: Params | Callback, callback?: Callback): this {
    return this.#enqueue('run', sql, params, callback);
  }

  all(sql: string, params?: Params | Callback, callback?: Callback): this {
    return this.#enqueue('all', sql, params, callback);
  }

  exec(sql: string, callback?: Callback): this {
    return this.#enqueue('exec', sql, undefined, callback);
  }

  close(callback?: (err: unknown) => void): void {
    const close = () => {
      let error: unknown = null;
      try {
        this.#db?.close();
      } catch (err) {
        error = asSqlite3Error(err);
      }
      process.nextTick(() => callback?.(error));
    };
    if (this.#jobs.length) this.#closing = close;
    else close();
  }

  #enqueue(kind: Job['kind'], sql: string, params: Params | Callback, callback?: Callback): this {
    if (typeof params === 'function') [callback, params] = [params, undefined];
    this.#jobs.push({ sql, params, kind, callback, since: Date.now() });
    if (this.#jobs.length === 1) this.#work();
    return this;
  }

  /** Runs the statements waiting, in order, until one finds the database locked (it is tried again shortly) or none is left. */
  #work(): void {
    while (this.#jobs.length) {
      const job = this.#jobs[0]!;
      let result: { err: unknown; rows?: unknown; statement: Statement };
      try {
        result = { err: null, ...this.#execute(job) };
      } catch (err) {
        if (primaryCode(err) === 5 && Date.now() - job.since < BUSY_DEADLINE_MS) {
          if (!job.waiting) waiting++;
          job.waiting = true;
          setTimeout(() => this.#work(), this.#backoff);
          this.#backoff = Math.min(this.#backoff * 2, 16);
          return;
        }
        result = { err: asSqlite3Error(err), statement: new Statement(0, 0) };
      }
      this.#jobs.shift();
      if (job.waiting) waiting--;
      this.#backoff = 1;
      const { callback } = job;
      if (callback) process.nextTick(() => callback.call(result.statement, result.err, result.rows));
    }
    this.#closing?.();
  }

  #execute(job: Job): { rows?: unknown; statement: Statement } {
    const db = this.#db;
    if (!db) throw Object.assign(new Error('SQLITE_MISUSE: the database is not open'), { code: 'SQLITE_MISUSE' });
    if (job.kind === 'exec') {
      db.exec(job.sql);
      return { statement: new Statement(0, 0) };
    }
    let statement = this.#prepared.get(job.sql);
    if (!statement) {
      statement = db.prepare(job.sql);
      // Sequelize's statements are mostly made once (schema, migrations); a transaction's
      // connection is closed at its end. Bounded all the same.
      if (this.#prepared.size < 200) this.#prepared.set(job.sql, statement);
    }
    const { params } = job;
    const args: SQLInputValue[] | [Record<string, SQLInputValue>] = Array.isArray(params)
      ? params.map(bindable)
      : params ? [Object.fromEntries(Object.entries(params).map(([k, v]) => [k, bindable(v)]))] : [];
    if (job.kind === 'all') {
      // node:sqlite's rows have no prototype; Sequelize and our callers expect plain objects
      const rows = (statement.all(...(args as SQLInputValue[])) as object[]).map((row) => ({ ...row }));
      return { rows, statement: new Statement(0, 0) };
    }
    const { lastInsertRowid, changes } = statement.run(...(args as SQLInputValue[]));
    return { statement: new Statement(Number(lastInsertRowid), Number(changes)) };
  }
}
