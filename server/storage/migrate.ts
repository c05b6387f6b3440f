import { QueryTypes, type Sequelize } from 'sequelize';
import { migrations as all, type Migration } from './migrations.ts';

/**
 * Applies, in order, the migrations not yet recorded in `stepgate_migrations` (one `name`
 * per migration applied: the table umzug kept, so databases it migrated carry on). Our own
 * few lines rather than umzug, whose command-line interface (a hundred modules) every
 * process loaded at start for a loop this size.
 */
export async function migrate(sequelize: Sequelize, migrations: readonly Migration[] = all): Promise<void> {
  await sequelize.query('CREATE TABLE IF NOT EXISTS stepgate_migrations (name VARCHAR(255) NOT NULL PRIMARY KEY)');
  const rows = await sequelize.query<{ name: string }>('SELECT name FROM stepgate_migrations', { type: QueryTypes.SELECT });
  const applied = new Set(rows.map((r) => r.name));
  for (const migration of migrations) {
    if (applied.has(migration.name)) continue;
    await migration.up(sequelize.getQueryInterface());
    await sequelize.query('INSERT INTO stepgate_migrations (name) VALUES (:name)', { replacements: { name: migration.name } });
  }
}
