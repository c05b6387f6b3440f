import { randomUUID } from 'node:crypto';
import { DataTypes, QueryTypes, type QueryInterface } from 'sequelize';

/**
 * The schema, as ordered migrations shared by SQLite and PostgreSQL. Add new ones at the
 * end; never edit one that has shipped.
 */
export type Migration = { name: string; up: (q: QueryInterface) => Promise<void> };

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
    name: '0002-federation',
    async up(q) {
      // Upstream identity providers a chain can name; the client secret is sealed with the keyring.
      await q.createTable('identity_providers', {
        name: { type: DataTypes.STRING(64), primaryKey: true },
        issuer: { type: DataTypes.STRING(2048), allowNull: false },
        client_id: { type: DataTypes.STRING(255), allowNull: false },
        client_secret: { type: DataTypes.TEXT, allowNull: false },
        scopes: { type: DataTypes.STRING(1024), allowNull: false },
        display_name: { type: DataTypes.STRING(255), allowNull: false },
        claim_mapping: { type: DataTypes.TEXT, allowNull: false, defaultValue: '{}' },
        jit: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false },
        created_at: now,
        updated_at: now,
      });
      // An external identity (issuer + subject) belongs to at most one local account.
      await q.createTable('linked_identities', {
        issuer: { type: DataTypes.STRING(2048), primaryKey: true },
        subject: { type: DataTypes.STRING(255), primaryKey: true },
        idp_name: { type: DataTypes.STRING(64), allowNull: false },
        account_id: { type: DataTypes.STRING(64), allowNull: false },
        created_at: now,
      });
      await q.addIndex('linked_identities', ['account_id']);
      // Account-page linking in progress: single-use, bound to the browser session that started it.
      await q.createTable('pending_links', {
        id: { type: DataTypes.STRING(128), primaryKey: true },
        data: { type: DataTypes.TEXT, allowNull: false },
        expires_at: { type: DataTypes.BIGINT, allowNull: false },
      });
    },
  },
  {
    name: '0003-token-api',
    async up(q) {
      // SAML identity providers trusted to sign assertions for the SAML2 bearer grant.
      await q.createTable('saml_idps', {
        name: { type: DataTypes.STRING(128), primaryKey: true },
        issuer: { type: DataTypes.STRING(1024), allowNull: false, unique: true },
        certificate: { type: DataTypes.TEXT, allowNull: false },
        created_at: now,
      });
      // Assertion ids already exchanged (RFC 7522 section 3: an assertion is used once),
      // kept until the assertion expires; the primary key makes the insert the lock.
      await q.createTable('saml_assertions_used', {
        id: { type: DataTypes.STRING(128), primaryKey: true },
        expires_at: { type: DataTypes.BIGINT, allowNull: false },
      });
      await q.addIndex('saml_assertions_used', ['expires_at']);
    },
  },
  {
    name: '0004-admin-audit',
    async up(q) {
      await q.createTable('audit_events', {
        id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true },
        at: { type: DataTypes.BIGINT, allowNull: false },
        kind: { type: DataTypes.STRING(64), allowNull: false },
        actor: { type: DataTypes.STRING(255), allowNull: true },
        client_id: { type: DataTypes.STRING(255), allowNull: true },
        address: { type: DataTypes.STRING(64), allowNull: true },
        subject: { type: DataTypes.STRING(255), allowNull: true },
        details: { type: DataTypes.TEXT, allowNull: false, defaultValue: '{}' },
      });
      await q.addIndex('audit_events', ['at']);
      await q.addIndex('audit_events', ['kind']);
      await q.createTable('admin_sessions', {
        id: { type: DataTypes.STRING(128), primaryKey: true },
        user_id: { type: DataTypes.STRING(64), allowNull: false },
        csrf: { type: DataTypes.STRING(128), allowNull: false },
        expires_at: { type: DataTypes.BIGINT, allowNull: false },
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
  {
    name: '0006-manage',
    // The account each provider row (session, grant, code, token) belongs to, so that
    // disabling or deleting an account can end them all with one indexed statement.
    async up(q) {
      await q.addColumn('oidc_payloads', 'account_id', { type: DataTypes.STRING(64), allowNull: true });
      const accountOf = q.sequelize.getDialect() === 'postgres' ? "(payload::json->>'accountId')" : "json_extract(payload, '$.accountId')";
      await q.sequelize.query(`UPDATE oidc_payloads SET account_id = ${accountOf}`);
      await q.sequelize.query('CREATE INDEX oidc_payloads_account_id_set ON oidc_payloads (account_id) WHERE account_id IS NOT NULL');
    },
  },
  {
    name: '0007-policy',
    async up(q) {
      // a trusted upstream's amr, kept with the session's step so single sign-on reuses it
      await q.addColumn('session_steps', 'upstream_amr', { type: DataTypes.TEXT, allowNull: true });
      // identity providers whose amr an admin trusts, and how their method names map to RFC 8176
      await q.addColumn('identity_providers', 'trust_upstream_amr', { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false });
      await q.addColumn('identity_providers', 'amr_map', { type: DataTypes.TEXT, allowNull: false, defaultValue: '{}' });
      // browsers a user chose to remember; the device id is stored only as a hash
      await q.createTable('remembered_devices', {
        id: { type: DataTypes.STRING(64), primaryKey: true },
        device_hash: { type: DataTypes.STRING(128), allowNull: false },
        account_id: { type: DataTypes.STRING(64), allowNull: false },
        label: { type: DataTypes.STRING(255), allowNull: false },
        created_at: { type: DataTypes.BIGINT, allowNull: false },
        last_used_at: { type: DataTypes.BIGINT, allowNull: false },
        expires_at: { type: DataTypes.BIGINT, allowNull: false },
      });
      await q.addIndex('remembered_devices', ['device_hash', 'account_id'], { unique: true });
      await q.addIndex('remembered_devices', ['account_id']);
      await q.addIndex('remembered_devices', ['expires_at']);
    },
  },
  {
    name: '0008-hardening',
    async up(q) {
      // Off for every provider already stored: an admin allows an on-premise provider explicitly.
      await q.addColumn('identity_providers', 'allow_private_network', { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false });
    },
  },
  {
    name: '0013-email',
    async up(q) {
      // Whether the user proved they read mail at `email` (a verification link): only a
      // verified address receives codes, reset links and notices, and backs email_verified.
      await q.addColumn('users', 'email_verified', { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false });
      // Mailed secrets (verification and reset links, one-time codes), stored only as hashes,
      // single use (used_at), expiring; `bound` ties a reset link to the password it replaces.
      await q.createTable('email_tokens', {
        id: { type: DataTypes.STRING(128), primaryKey: true },
        purpose: { type: DataTypes.STRING(16), allowNull: false },
        account_id: { type: DataTypes.STRING(64), allowNull: false },
        email: { type: DataTypes.STRING(320), allowNull: false },
        code_hash: { type: DataTypes.STRING(128), allowNull: true },
        bound: { type: DataTypes.STRING(128), allowNull: true },
        tries: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
        data: { type: DataTypes.TEXT, allowNull: false, defaultValue: '{}' },
        expires_at: { type: DataTypes.BIGINT, allowNull: false },
        used_at: { type: DataTypes.BIGINT, allowNull: true },
      });
      await q.addIndex('email_tokens', ['expires_at']);
      // Mails sent per account and per address, for the resend limits; rows older than an hour go.
      await q.createTable('mail_sends', {
        id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true },
        key: { type: DataTypes.STRING(400), allowNull: false },
        at: { type: DataTypes.BIGINT, allowNull: false },
      });
      await q.addIndex('mail_sends', ['key', 'at']);
      await q.addIndex('mail_sends', ['at']);
    },
  },
  {
    name: '0006-manage-keys',
    // Several keys per algorithm (rotation): the newest signs, older ones stay published
    // until retired. Recreated because SQLite cannot drop the old UNIQUE (alg).
    async up(q) {
      await q.createTable('signing_keys_rotating', {
        kid: { type: DataTypes.STRING(128), primaryKey: true },
        alg: { type: DataTypes.STRING(32), allowNull: false },
        jwk: { type: DataTypes.TEXT, allowNull: false },
        created_at: { type: DataTypes.BIGINT, allowNull: false },
        // when a newer key of its algorithm took over signing; null while it signs
        superseded_at: { type: DataTypes.BIGINT, allowNull: true },
      });
      const rows = await q.sequelize.query('SELECT kid, alg, jwk FROM signing_keys', { type: QueryTypes.SELECT }) as { kid: string; alg: string; jwk: string }[];
      if (rows.length) await q.bulkInsert('signing_keys_rotating', rows.map((r) => ({ ...r, created_at: Date.now(), superseded_at: null })));
      await q.dropTable('signing_keys');
      await q.renameTable('signing_keys_rotating', 'signing_keys');
      await q.addIndex('signing_keys', ['alg']);
    },
  },
  {
    name: '0011-pages',
    // The admin console is the operator's own application: it asks no consent (issue 15).
    // New installations get the setting at bootstrap; this gives it to existing ones.
    async up(q) {
      const [rows] = await q.sequelize.query("SELECT settings FROM clients WHERE client_id = 'stepgate-admin'");
      for (const row of rows as { settings: string }[]) {
        const settings = JSON.stringify({ ...JSON.parse(row.settings), firstParty: true });
        await q.sequelize.query("UPDATE clients SET settings = :settings WHERE client_id = 'stepgate-admin'", { replacements: { settings } });
      }
    },
  },
  {
    name: '0012-factors',
    // Every second factor a user holds, one row each: the TOTP secret (sealed, bound to the
    // user id as before), passkeys (public key; `lookup` = the credential id, unique) and
    // recovery codes (SHA-256 only). TOTP secrets move here from users, still sealed under
    // the same context, so they keep working without the keyring being needed here.
    async up(q) {
      await q.createTable('credentials', {
        id: { type: DataTypes.STRING(64), primaryKey: true },
        user_id: { type: DataTypes.STRING(64), allowNull: false },
        type: { type: DataTypes.STRING(32), allowNull: false },
        label: { type: DataTypes.STRING(255), allowNull: false },
        data: { type: DataTypes.TEXT, allowNull: false },
        lookup: { type: DataTypes.STRING(1024), allowNull: true, unique: true },
        counter: { type: DataTypes.BIGINT, allowNull: true },
        created_at: { type: DataTypes.BIGINT, allowNull: false },
        last_used_at: { type: DataTypes.BIGINT, allowNull: true },
      });
      await q.addIndex('credentials', ['user_id', 'type']);
      // One TOTP secret per user, whatever races.
      await q.sequelize.query("CREATE UNIQUE INDEX credentials_one_totp ON credentials (user_id) WHERE type = 'totp'");
      const rows = await q.sequelize.query<{ id: string; totp_secret: string; totp_last_step: number | string | null }>(
        'SELECT id, totp_secret, totp_last_step FROM users WHERE totp_secret IS NOT NULL', { type: QueryTypes.SELECT });
      const at = Math.floor(Date.now() / 1000);
      if (rows.length > 0) {
        await q.bulkInsert('credentials', rows.map((r) => ({
          id: randomUUID(), user_id: r.id, type: 'totp', label: 'Authenticator app', data: r.totp_secret,
          lookup: null, counter: r.totp_last_step === null ? null : Number(r.totp_last_step), created_at: at, last_used_at: null,
        })));
      }
      // Drops, not renames: a reader of the old column must fail loudly, not see "no TOTP".
      await q.sequelize.query('ALTER TABLE users DROP COLUMN totp_secret');
      await q.sequelize.query('ALTER TABLE users DROP COLUMN totp_last_step');
      // "Require enrolment at next login", set by an admin.
      await q.addColumn('users', 'enrolment_required', { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false });
    },
  },
  {
    name: '0015-user-locale',
    // The language a user last signed in with, so mails reach them in it even when another
    // person's request causes them (an admin's reset, someone else's wrong guesses).
    async up(q) {
      await q.addColumn('users', 'locale', { type: DataTypes.STRING(35), allowNull: true });
    },
  },
];
