import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import pg from 'pg';
import { QueryTypes, Sequelize, Transaction, type TransactionOptions } from 'sequelize';
import { migrate } from './migrate.ts';
import { deferredWrites, forgetReads, lookedSinceRequestBegan, ownWritesCommitted } from './request-reads.ts';
import { openStatements } from './statements.ts';
import * as sqliteDriver from './sqlite-driver.ts';
import { TableCaches, type TableCache } from './table-caches.ts';

// Our BIGINT columns hold epoch times, well inside Number's exact range.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

export type Database = {
  sequelize: Sequelize;
  dialect: 'sqlite' | 'postgres';
  /**
   * Runs `sql` and returns the number of rows it changed (UPDATE / DELETE). `keepCaches`:
   * the write changes nothing any cache is relied on for (a user's language, which mails
   * read afresh), so the table's caches are not emptied, here or in other processes (on
   * PostgreSQL that spares a notification, and every process's cache of the table); the
   * caller patches its own cached rows.
   */
  change(sql: string, values: Record<string, unknown>, transaction?: Transaction, options?: { keepCaches?: boolean }): Promise<number>;
  /** Runs a SELECT and returns its rows. */
  select<T extends object>(sql: string, values: Record<string, unknown>, transaction?: Transaction): Promise<T[]>;
  /**
   * A cache of values read from `table`, emptied when this or any other process writes to
   * the table through `change`/`select` (server/storage/table-caches.ts).
   */
  cache<V>(table: string): TableCache<V>;
  /**
   * Runs `work` in a transaction (on Sequelize's own connection), committed when it
   * resolves. Within a request, the request's earlier writes are committed first, so the
   * transaction sees them (server/storage/statements.ts tells a request of a write
   * before its COMMIT).
   */
  transaction<T>(work: (transaction: Transaction) => Promise<T>, options?: TransactionOptions): Promise<T>;
  /**
   * `flush` runs (and is awaited) before each statement of this process whose text names
   * `table`, and before each transaction: for rows held back to be written together
   * (audit notes), so that nothing here reads the table without them. It is given the
   * statement, and returns undefined for the ones that are its own writes.
   */
  flushBefore(table: string, flush: (sql: string) => Promise<void> | undefined): void;
  close(): Promise<void>;
};

/** The table an INSERT / UPDATE / DELETE writes to, or null for a read. */
const WRITTEN = /^\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+"?(\w+)/i;
const writtenTables = new Map<string, string | null>();
function writtenTable(sql: string): string | null {
  let table = writtenTables.get(sql);
  if (table === undefined) {
    table = WRITTEN.exec(sql)?.[1]?.toLowerCase() ?? null;
    if (writtenTables.size < 10_000) writtenTables.set(sql, table);
  }
  return table;
}

const CACHE_CHANNEL = 'stepgate_cache';
/** application_name of each process's listening connection: the writer counts them */
const LISTENER_NAME = 'stepgate cache listener';
/** payload prefix of a listener's answer ("ack <nonce>"); never a table name */
const ACK = 'ack';

/**
 * Our SQL names its values `:name`; they are sent as bound parameters (`$name`), never
 * spliced into the statement text, so no input — quotes, NUL bytes — can change a query.
 */
function bound(sql: string): string {
  return sql.replace(NAMED, '$$$1');
}

const NAMED = /(?<![:\w]):([A-Za-z_]\w*)/g;

/**
 * PostgreSQL text cannot hold NUL, SQLite can: so that both behave alike, nothing stored
 * ever contains NUL (it is written as U+FFFD) and a lookup by a value containing NUL
 * finds nothing instead of failing.
 */
const NUL = '\u0000';
const hasNul = (values: Record<string, unknown>) => Object.values(values).some((v) => typeof v === 'string' && v.includes(NUL));

/** The values the statement names (drivers refuse extra ones), converted for binding. */
function bindValues(sql: string, values: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [, k] of sql.matchAll(NAMED)) {
    if (!(k! in values)) throw new TypeError(`SQL names :${k} but no value was given`);
    const v = values[k!];
    if (Array.isArray(v)) throw new TypeError(`SQL value :${k} is an array; bind each element as its own value`);
    out[k!] = v === undefined ? null : v instanceof Date ? v.toISOString() : typeof v === 'string' ? v.replaceAll(NUL, '\ufffd') : v;
  }
  return out;
}

let statementsRun = 0;
/** Statements run through any Database of this process so far: what the benchmark counts per request. */
export const statementCount = () => statementsRun;

/**
 * Opens the database named by `url` (`sqlite:<path>` or `postgres://...`) and brings its
 * schema up to date. SQLite runs in WAL mode with a busy timeout so that several
 * connections (and processes) can share the file.
 */
export async function openDatabase(url: string): Promise<Database> {
  let sequelize: Sequelize;
  let dialect: Database['dialect'];
  if (url.startsWith('sqlite:')) {
    const storage = url.slice('sqlite:'.length);
    if (storage !== ':memory:') mkdirSync(dirname(storage), { recursive: true });
    dialect = 'sqlite';
    // On node:sqlite, as the hot path (server/storage/sqlite-driver.ts): one copy of SQLite
    // in the process, whose locks keep all its connections apart; a locked statement is
    // tried again from a timer for up to 5 s, never waited for inside SQLite, so Sequelize
    // retries nothing itself (its own retry, set to `{ max: 10 }`, tried every failed
    // statement ten times, a unique violation included, over 1.4 s).
    // A transaction takes the write lock when it begins: one that began by reading and then
    // wrote after another connection's commit would fail at once with SQLITE_BUSY, as its
    // snapshot is stale, whatever the wait (seen as `stepgate user disable` failing while
    // the broker wrote).
    sequelize = new Sequelize({
      dialect, storage, dialectModule: sqliteDriver, logging: false, pool: { max: 1 }, retry: { max: 1 },
      transactionType: Transaction.TYPES.IMMEDIATE,
    });
    await sequelize.query('PRAGMA journal_mode=WAL');
    await sequelize.query('PRAGMA synchronous=NORMAL');
  } else {
    dialect = 'postgres';
    sequelize = new Sequelize(url, { dialect, logging: false, pool: { max: 10, idle: 10_000 } });
    await sequelize.authenticate();
  }

  if (dialect === 'postgres') {
    // Several processes may start together: one migrates, the others wait for it.
    await sequelize.transaction(async (transaction) => {
      await sequelize.query('SELECT pg_advisory_xact_lock(7726001)', { transaction });
      await migrate(sequelize);
    });
  } else {
    await migrate(sequelize);
  }

  const statements = openStatements(url);
  // What Sequelize's connections commit (a transaction, a new user) is seen by the hot
  // path's next read, even in the same event-loop turn (server/storage/statements.ts).
  const endSnapshot = statements?.endSnapshot;
  if (endSnapshot) sequelize.addHook('afterQuery', () => endSnapshot());
  let lastVersion = statements?.dataVersion?.();
  // Another process's commit that a request follows (made before the request was sent)
  // is seen by any look made after the request began, by this request or another: the
  // requests read in one go from the network share one look (each look is a read
  // transaction, with its file locks).
  let lookedAt = -Infinity;
  const caches = new TableCaches(statements?.dataVersion && (() => {
    if (lookedSinceRequestBegan(lookedAt)) return false;
    lookedAt = performance.now();
    const version = statements.dataVersion!();
    if (version === lastVersion) return false;
    lastVersion = version;
    return true;
  }));
  const flushers: { table: string; flush: (sql: string) => Promise<void> | undefined }[] = [];
  const echoes = new Map<string, () => void>();
  const listener = dialect === 'postgres' ? await listen(url, caches, echoes) : undefined;

  /**
   * After a committed write to a cached table: empty its caches here, and (PostgreSQL) in
   * the other processes. NOTIFY reaches them asynchronously, so the writer counts the
   * processes listening on this database and waits (up to two seconds, for one that hangs)
   * until each has answered that its caches are empty: whoever made the change can then
   * ask any process and get the new row.
   */
  const written = async (table: string) => {
    caches.invalidate(table);
    if (dialect !== 'postgres') return;
    const nonce = randomUUID();
    // One statement notifies and counts the processes listening; their answers may come
    // back before it does, so they are counted from the start.
    let answers = 0;
    let listeners = Infinity;
    let acknowledge!: () => void;
    const acknowledged = new Promise<void>((resolve) => {
      acknowledge = resolve;
      setTimeout(resolve, 2000).unref();
    });
    echoes.set(nonce, () => { if (++answers >= listeners) acknowledge(); });
    try {
      // (counted with the rest, as is each listener's answer)
      statementsRun++;
      const [row] = await sequelize.query<{ listeners: number }>(
        `SELECT pg_notify(:channel, :payload) AS notified,
          (SELECT count(*)::int FROM pg_stat_activity WHERE datname = current_database() AND application_name = :name) AS listeners`,
        { replacements: { channel: CACHE_CHANNEL, payload: `${table} ${nonce}`, name: LISTENER_NAME }, type: QueryTypes.SELECT },
      );
      listeners = row?.listeners ?? 0;
      if (answers >= listeners) acknowledge();
      await acknowledged;
    } finally {
      echoes.delete(nonce);
    }
  };
  /** Runs a statement; when it writes to a cached table, invalidates once the write is committed. */
  const run = async <R>(sql: string, values: Record<string, unknown>, transaction: Transaction | undefined, statement: () => Promise<R>, keepCaches = false): Promise<R> => {
    // The request's writes to the tables this statement names that it was told were done
    // (batched upserts) are made first, so that it sees them (a transaction waited for all
    // of them when it began).
    if (!transaction) {
      const deferred = deferredWrites(sql, values);
      if (deferred) await deferred;
      for (const { table, flush } of flushers) {
        const flushed = sql.includes(table) ? flush(sql) : undefined;
        if (flushed) await flushed;
      }
    }
    statementsRun++;
    const table = writtenTable(sql);
    if (table !== null) {
      // This request's remembered reads of the table: forgotten now, and (in a transaction)
      // again once committed, as a read in between saw the rows from before.
      forgetReads(table);
      transaction?.afterCommit(() => forgetReads(table));
    }
    if (table === null || keepCaches || !caches.caches(table)) return statement();
    if (transaction) {
      transaction.afterCommit(() => written(table));
      return statement();
    }
    try {
      return await statement();
    } finally {
      await written(table);
    }
  };

  return {
    sequelize,
    dialect,
    change(sql, values, transaction, options) {
      return run(sql, values, transaction, async () => {
        if (statements && !transaction) return statements.change(sql, values);
        // QueryTypes.UPDATE makes both dialects report the affected row count.
        const [, count] = (await sequelize.query(bound(sql), { bind: bindValues(sql, values), transaction, type: QueryTypes.UPDATE })) as [unknown, number];
        return count;
      }, options?.keepCaches);
    },
    select<T extends object>(sql: string, values: Record<string, unknown>, transaction?: Transaction) {
      return run(sql, values, transaction, async (): Promise<T[]> => {
        if (statements && !transaction) return statements.select<T>(sql, values);
        if (hasNul(values)) return [];
        // The leading comment matters: Sequelize's SQLite driver runs a statement that starts
        // with "insert into" without collecting rows, which would drop INSERT ... RETURNING.
        return sequelize.query(`/* rows */ ${bound(sql)}`, { bind: bindValues(sql, values), transaction, type: QueryTypes.SELECT });
      });
    },
    cache: <V>(table: string) => caches.create<V>(table),
    flushBefore(table, flush) {
      flushers.push({ table, flush });
    },
    async transaction<T>(work: (transaction: Transaction) => Promise<T>, options: TransactionOptions = {}) {
      await ownWritesCommitted();
      for (const { flush } of flushers) await flush('');
      return sequelize.transaction(options, work);
    },
    async close() {
      for (const { flush } of flushers) await flush('');
      await listener?.end();
      await statements?.close();
      await sequelize.close();
    },
  };
}

/**
 * PostgreSQL: hears the other processes' writes to cached tables. If this connection
 * fails, caching stops (every lookup reads the database) rather than risk a stale row.
 */
async function listen(url: string, caches: TableCaches, echoes: Map<string, () => void>): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, application_name: LISTENER_NAME });
  client.on('notification', (message) => {
    if (message.channel !== CACHE_CHANNEL || !message.payload) return;
    const [subject, nonce] = message.payload.split(' ');
    if (subject === ACK) {
      echoes.get(nonce!)?.();
      return;
    }
    caches.invalidate(subject!);
    // Answer the writer once this process's caches are empty (failures end the connection,
    // which stops caching here; the writer stops waiting after its timeout).
    if (!nonce) return;
    statementsRun++;
    client.query('SELECT pg_notify($1, $2)', [CACHE_CHANNEL, `${ACK} ${nonce}`]).catch(() => caches.broken());
  });
  client.on('error', () => caches.broken());
  client.on('end', () => caches.broken());
  await client.connect();
  await client.query(`LISTEN ${CACHE_CHANNEL}`);
  return client;
}
