import { DatabaseSync, type StatementSync } from 'node:sqlite';
import pg from 'pg';

/**
 * The hot path of `Database.change` / `Database.select`: prepared statements straight on
 * the driver, without Sequelize's per-query work (measured per indexed SELECT: SQLite
 * 384 µs through Sequelize, 4 µs here; PostgreSQL 706 µs, 339 µs here). Sequelize
 * still runs the migrations, the query-interface helpers and anything in a transaction.
 *
 * SQLite uses Node's built-in driver on a second connection to the same WAL-mode file:
 * statements run synchronously (microseconds for our indexed lookups); a writer waits
 * at most busy_timeout for another process's lock. Mind that a write through here waits
 * (blocking the event loop) while a Sequelize transaction in this same process holds the
 * SQLite write lock: keep SQLite transactions to start-up work such as migrations, or
 * pass the transaction to every statement that may run meanwhile.
 */
export type Statements = {
  change(sql: string, values: Record<string, unknown>): Promise<number>;
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

function sqliteStatements(file: string): Statements {
  const db = new DatabaseSync(file);
  db.exec('PRAGMA busy_timeout=5000');
  db.exec('PRAGMA synchronous=NORMAL');
  const cache = new Map<string, { statement: StatementSync; names: string[] }>();
  const prepare = (sql: string, values: Record<string, unknown>) => {
    let entry = cache.get(sql);
    if (!entry) {
      entry = { statement: db.prepare(sql), names: [...new Set([...sql.matchAll(PLACEHOLDER)].map((m) => m[1]!))] };
      cache.set(sql, entry);
    }
    const params: Record<string, string | number | bigint | null | Uint8Array> = {};
    for (const name of entry.names) params[name] = bindable(values[name], true) as string | number | null;
    return { statement: entry.statement, params };
  };
  return {
    async change(sql, values) {
      const { statement, params } = prepare(sql, values);
      return Number(statement.run(params).changes);
    },
    async select<T extends object>(sql: string, values: Record<string, unknown>) {
      if (hasNul(values)) return [];
      const { statement, params } = prepare(sql, values);
      // plain objects, like the rows of the other dialect
      return statement.all(params).map((row) => ({ ...row })) as T[];
    },
    async close() {
      db.close();
    },
  };
}

function postgresStatements(url: string): Statements {
  const pool = new pg.Pool({ connectionString: url, max: 10, idleTimeoutMillis: 10_000 });
  const cache = new Map<string, { name: string; text: string; names: string[] }>();
  const query = (sql: string, values: Record<string, unknown>) => {
    let entry = cache.get(sql);
    if (!entry) {
      const names: string[] = [];
      const text = sql.replace(PLACEHOLDER, (_m, name: string) => {
        let i = names.indexOf(name);
        if (i < 0) i = names.push(name) - 1;
        return `$${i + 1}`;
      });
      // A named statement is prepared once per connection, then only executed.
      entry = { name: `stepgate_${cache.size}`, text, names };
      cache.set(sql, entry);
    }
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
