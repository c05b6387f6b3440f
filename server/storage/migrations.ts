import { DataTypes, type QueryInterface } from 'sequelize';

/**
 * The schema, as ordered migrations shared by SQLite and PostgreSQL. Add new ones at the
 * end; never edit one that has shipped.
 */
type Migration = { name: string; up: (q: QueryInterface) => Promise<void> };

const now = { type: DataTypes.DATE, allowNull: false };

export const migrations: Migration[] = [
  {
    name: '0001-initial',
    async up(q) {
      await q.createTable('users', {
        id: { type: DataTypes.STRING(64), primaryKey: true },
        username: { type: DataTypes.STRING(255), allowNull: false, unique: true },
        email: { type: DataTypes.STRING(320), allowNull: true },
        password_hash: { type: DataTypes.STRING(255), allowNull: true },
        totp_secret: { type: DataTypes.TEXT, allowNull: true },
        totp_last_step: { type: DataTypes.BIGINT, allowNull: true },
        roles: { type: DataTypes.TEXT, allowNull: false, defaultValue: '[]' },
        disabled: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false },
        created_at: now,
        updated_at: now,
      });
      await q.createTable('clients', {
        client_id: { type: DataTypes.STRING(255), primaryKey: true },
        secret: { type: DataTypes.TEXT, allowNull: true },
        redirect_uris: { type: DataTypes.TEXT, allowNull: false },
        grant_types: { type: DataTypes.TEXT, allowNull: false },
        chain: { type: DataTypes.TEXT, allowNull: false },
        settings: { type: DataTypes.TEXT, allowNull: false, defaultValue: '{}' },
        created_at: now,
        updated_at: now,
      });
      await q.createTable('oidc_payloads', {
        model: { type: DataTypes.STRING(64), primaryKey: true },
        id: { type: DataTypes.STRING(128), primaryKey: true },
        payload: { type: DataTypes.TEXT, allowNull: false },
        grant_id: { type: DataTypes.STRING(128), allowNull: true },
        user_code: { type: DataTypes.STRING(128), allowNull: true },
        uid: { type: DataTypes.STRING(128), allowNull: true },
        consumed_at: { type: DataTypes.BIGINT, allowNull: true },
        expires_at: { type: DataTypes.BIGINT, allowNull: true },
      });
      await q.addIndex('oidc_payloads', ['grant_id']);
      await q.addIndex('oidc_payloads', ['uid']);
      await q.addIndex('oidc_payloads', ['user_code']);
      await q.addIndex('oidc_payloads', ['expires_at']);
      await q.createTable('flow_states', {
        uid: { type: DataTypes.STRING(128), primaryKey: true },
        data: { type: DataTypes.TEXT, allowNull: false },
        version: { type: DataTypes.INTEGER, allowNull: false },
        expires_at: { type: DataTypes.BIGINT, allowNull: false },
      });
      await q.createTable('session_steps', {
        session_uid: { type: DataTypes.STRING(128), primaryKey: true },
        authenticator: { type: DataTypes.STRING(128), primaryKey: true },
        account_id: { type: DataTypes.STRING(64), allowNull: false },
        satisfied_at: { type: DataTypes.BIGINT, allowNull: false },
      });
      await q.createTable('signing_keys', {
        kid: { type: DataTypes.STRING(128), primaryKey: true },
        alg: { type: DataTypes.STRING(32), allowNull: false, unique: true },
        jwk: { type: DataTypes.TEXT, allowNull: false },
        created_at: now,
      });
      await q.createTable('login_failures', {
        key: { type: DataTypes.STRING(255), primaryKey: true },
        failures: { type: DataTypes.INTEGER, allowNull: false },
        lockouts: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
        first_failure_at: { type: DataTypes.BIGINT, allowNull: false },
        locked_until: { type: DataTypes.BIGINT, allowNull: true },
      });
    },
  },
  {
    name: '0005-scale',
    // Most oidc_payloads rows have no uid, user code or grant (only sessions and
    // interactions have a uid; only device flows a user code): indexing those columns
    // only where they are set halves the cost of every token insert, and lookups by
    // them (`col = :value`) still use the index.
    async up(q) {
      for (const column of ['grant_id', 'uid', 'user_code']) {
        await q.sequelize.query(`DROP INDEX IF EXISTS oidc_payloads_${column}`);
        await q.sequelize.query(`CREATE INDEX oidc_payloads_${column}_set ON oidc_payloads (${column}) WHERE ${column} IS NOT NULL`);
      }
    },
  },
];
