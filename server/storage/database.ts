import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import pg from 'pg';
import { QueryTypes, Sequelize, type Transaction } from 'sequelize';
import { SequelizeStorage, Umzug } from 'umzug';
import { migrations } from './migrations.ts';
import { openStatements } from './statements.ts';

// Our BIGINT columns hold epoch times, well inside Number's exact range.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

export type Database = {
  sequelize: Sequelize;
  dialect: 'sqlite' | 'postgres';
  /** Runs `sql` and returns the number of rows it changed (UPDATE / DELETE). */
  change(sql: string, replacements: Record<string, unknown>, transaction?: Transaction): Promise<number>;
  /** Runs a SELECT and returns its rows. */
  select<T extends object>(sql: string, replacements: Record<string, unknown>, transaction?: Transaction): Promise<T[]>;
  close(): Promise<void>;
};

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
    sequelize = new Sequelize({ dialect, storage, logging: false, pool: { max: 1 }, retry: { max: 10 } });
    await sequelize.query('PRAGMA journal_mode=WAL');
    await sequelize.query('PRAGMA busy_timeout=5000');
    await sequelize.query('PRAGMA synchronous=NORMAL');
  } else {
    dialect = 'postgres';
    sequelize = new Sequelize(url, { dialect, logging: false, pool: { max: 10, idle: 10_000 } });
    await sequelize.authenticate();
  }

  const umzug = new Umzug({
    migrations: migrations.map((m) => ({ name: m.name, up: () => m.up(sequelize.getQueryInterface()) })),
    storage: new SequelizeStorage({ sequelize, tableName: 'stepgate_migrations' }),
    logger: undefined,
  });
  if (dialect === 'postgres') {
    // Several processes may start together: one migrates, the others wait for it.
    await sequelize.transaction(async (transaction) => {
      await sequelize.query('SELECT pg_advisory_xact_lock(7726001)', { transaction });
      await umzug.up();
    });
  } else {
    await umzug.up();
  }

  const statements = openStatements(url);
  return {
    sequelize,
    dialect,
    async change(sql, replacements, transaction) {
      if (statements && !transaction) return statements.change(sql, replacements);
      // QueryTypes.UPDATE makes both dialects report the affected row count.
      const [, count] = (await sequelize.query(sql, { replacements, transaction, type: QueryTypes.UPDATE })) as [unknown, number];
      return count;
    },
    async select(sql, replacements, transaction) {
      if (statements && !transaction) return statements.select(sql, replacements);
      // The leading comment matters: Sequelize's SQLite driver runs a statement that starts
      // with "insert into" without collecting rows, which would drop INSERT ... RETURNING.
      return sequelize.query(`/* rows */ ${sql}`, { replacements, transaction, type: QueryTypes.SELECT });
    },
    async close() {
      await statements?.close();
      await sequelize.close();
    },
  };
}
