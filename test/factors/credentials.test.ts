import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Sequelize } from 'sequelize';
import { migrate } from '../../server/storage/migrate.ts';
import { generateSecret } from 'otplib';
import { migrations } from '../../server/storage/migrations.ts';
import { openDatabase, type Database } from '../../server/storage/database.ts';
import { Credentials, RECOVERY_CODE_COUNT } from '../../server/storage/credentials.ts';
import { Keyring } from '../../server/security/keyring.ts';
import { Users } from '../../server/storage/users.ts';
import { dropDatabase, testDatabaseUrl } from '../support/server.ts';
import * as sqliteDriver from '../../server/storage/sqlite-driver.ts';

/**
 * The credentials table on SQLite and PostgreSQL: TOTP secrets stored before it existed
 * keep working after the migration, and single-use things are single-use under concurrency.
 */
describe('credentials storage', function () {
  this.timeout(60_000);
  let url: string;
  let db: Database;
  let credentials: Credentials;
  const keyring = new Keyring([randomBytes(32).toString('base64')]);
  const oldSecret = generateSecret();
  const userId = 'u-before-migration';

  before(async () => {
    url = await testDatabaseUrl(mkdtempSync(join(tmpdir(), 'stepgate-credentials-')));
    // The schema as it was before 0012-factors, with a user enrolled in TOTP the old way.
    const sequelize = url.startsWith('sqlite:')
      ? new Sequelize({ dialect: 'sqlite', storage: url.slice('sqlite:'.length), dialectModule: sqliteDriver, logging: false })
      : new Sequelize(url, { dialect: 'postgres', logging: false });
    const before = migrations.slice(0, migrations.findIndex((m) => m.name === '0012-factors'));
    await migrate(sequelize, before);
    await sequelize.getQueryInterface().bulkInsert('users', [{
      id: userId, username: 'old', email: null, password_hash: null, totp_secret: keyring.encrypt(oldSecret, `totp:${userId}`),
      totp_last_step: 7, roles: '[]', disabled: false, created_at: new Date(), updated_at: new Date(),
    }]);
    await sequelize.close();
    db = await openDatabase(url);
    credentials = new Credentials(db, keyring);
  });
  after(async () => {
    await db.close();
    await dropDatabase(url);
  });

  it('moves an existing TOTP secret: same secret, same last used step, and the user still counts as enrolled', async () => {
    assert.deepEqual(await credentials.totp(userId), { secret: oldSecret, lastStep: 7 });
    assert.ok(await new Users(db).byId(userId));
    assert.equal(await credentials.has(userId, 'totp'), true);
    assert.equal(await credentials.useTotpStep(userId, 8), true);
    assert.equal(await credentials.useTotpStep(userId, 8), false, 'a time step is used once');
    const [row] = await db.select<Record<string, unknown>>('SELECT * FROM users WHERE id = :userId', { userId });
    assert.ok(!('totp_secret' in row!), 'the old column is gone');
  });

  it('recovery codes: ten, stored only hashed, each accepted once — of 10 parallel uses exactly one wins', async () => {
    const codes = await credentials.newRecoveryCodes(userId);
    assert.equal(codes.length, RECOVERY_CODE_COUNT);
    assert.equal(new Set(codes).size, RECOVERY_CODE_COUNT);
    const stored = JSON.stringify(await db.select('SELECT * FROM credentials', {}));
    for (const code of codes) assert.ok(!stored.includes(code), 'no code in the clear');
    const results = await Promise.all(Array.from({ length: 10 }, () => credentials.useRecoveryCode(userId, codes[0]!)));
    assert.equal(results.filter(Boolean).length, 1);
    assert.equal(await credentials.recoveryLeft(userId), RECOVERY_CODE_COUNT - 1);
    // Typed back in lower case without dashes still works (once).
    assert.equal(await credentials.useRecoveryCode(userId, codes[1]!.toLowerCase().replaceAll('-', ' ')), true);
    assert.equal(await credentials.useRecoveryCode('someone-else', codes[2]!), false, 'a code belongs to its user');
  });

  it('regenerating invalidates the old set', async () => {
    const old = await credentials.newRecoveryCodes(userId);
    const fresh = await credentials.newRecoveryCodes(userId);
    assert.equal(await credentials.useRecoveryCode(userId, old[0]!), false);
    assert.equal(await credentials.useRecoveryCode(userId, fresh[0]!), true);
    assert.equal(await credentials.recoveryLeft(userId), RECOVERY_CODE_COUNT - 1);
  });

  it('passkeys: a credential id is registered once, and a counter moves forward once under racing uses', async () => {
    const p = { credentialId: 'cred-1', publicKey: 'pk', counter: 5, transports: ['internal'], backedUp: false, userVerified: true, label: 'Laptop' };
    assert.equal(await credentials.addPasskey(userId, p), true);
    assert.equal(await credentials.addPasskey('another-user', p), false, 'the same credential id for another user is refused');
    const stored = (await credentials.passkeyByCredentialId('cred-1'))!;
    assert.equal(stored.userId, userId);
    const results = await Promise.all([6, 6, 6].map((n) => credentials.usePasskey(stored, n, false)));
    assert.equal(results.filter(Boolean).length, 1);
    assert.equal((await credentials.passkeys(userId))[0]!.counter, 6);
    assert.ok((await credentials.list(userId)).some((c) => c.type === 'passkey' && c.label === 'Laptop' && c.lastUsedAt !== null));
  });
});
