import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { openServices, type Services } from '../../server/services.ts';
import { loadConfig } from '../../config/index.ts';
import { sweep } from '../../server/storage/sweeps.ts';
import { execute } from '../../server/cli/index.ts';
import { testDatabaseUrl } from '../support/server.ts';

/** Every table that grows loses its expired rows, and only those; the audit log past its retention, after an export. */
describe('sweeps', function () {
  this.timeout(60_000);
  let s: Services;
  let env: Record<string, string>;
  let now: number;
  const DAY = 86_400;

  before(async () => {
    now = Math.floor(Date.now() / 1000);
    const dir = mkdtempSync(join(tmpdir(), 'stepgate-sweeps-'));
    env = { DATABASE_URL: await testDatabaseUrl(dir), STEPGATE_DATA_DIR: dir, STEPGATE_SECRET_KEYS: randomBytes(32).toString('base64'), STEPGATE_DEMO: '0', LOG_LEVEL: 'silent', STEPGATE_AUDIT_RETENTION_DAYS: '30' };
    s = await openServices(loadConfig(env));
    const rows: [string, string, Record<string, unknown>][] = [];
    for (const [age, tag] of [[-3600, 'live'], [60, 'gone']] as const) {
      const exp = now - age;
      rows.push(
        ['oidc_payloads', 'INSERT INTO oidc_payloads (model, id, payload, expires_at) VALUES (:model, :id, :p, :exp)', { model: 'AccessToken', id: tag, p: '{}', exp }],
        ['flow_states', 'INSERT INTO flow_states (uid, data, version, expires_at) VALUES (:uid, :d, 1, :exp)', { uid: tag, d: '{}', exp }],
        ['pending_links', 'INSERT INTO pending_links (id, data, expires_at) VALUES (:id, :d, :exp)', { id: tag, d: '{}', exp }],
        ['admin_sessions', "INSERT INTO admin_sessions (id, user_id, csrf, expires_at) VALUES (:id, 'u', 'c', :exp)", { id: tag, exp }],
        ['saml_assertions_used', 'INSERT INTO saml_assertions_used (id, expires_at) VALUES (:id, :exp)', { id: tag, exp }],
        ['remembered_devices', "INSERT INTO remembered_devices (id, device_hash, account_id, label, created_at, last_used_at, expires_at) VALUES (:id, :id, 'u', 'l', 0, 0, :exp)", { id: tag, exp }],
      );
    }
    const session = loadConfig(env).ttl.session;
    rows.push(
      ['session_steps', "INSERT INTO session_steps (session_uid, authenticator, account_id, satisfied_at) VALUES ('live', 'password', 'u', :at)", { at: now - 60 }],
      ['session_steps', "INSERT INTO session_steps (session_uid, authenticator, account_id, satisfied_at) VALUES ('gone', 'password', 'u', :at)", { at: now - session - 60 }],
      ['login_failures', "INSERT INTO login_failures (key, failures, lockouts, first_failure_at, locked_until) VALUES ('live', 3, 1, :first, :until)", { first: now - 2 * DAY, until: now + 60 }],
      ['login_failures', "INSERT INTO login_failures (key, failures, lockouts, first_failure_at, locked_until) VALUES ('gone', 3, 1, :first, :until)", { first: now - 3 * DAY, until: now - 2 * DAY }],
      ['audit_events', "INSERT INTO audit_events (at, kind, details) VALUES (:at, 'test.gone', '{}')", { at: Date.now() - 31 * DAY * 1000 }],
      ['audit_events', "INSERT INTO audit_events (at, kind, details) VALUES (:at, 'test.live', '{}')", { at: Date.now() - 29 * DAY * 1000 }],
    );
    for (const [, sql, values] of rows) assert.equal(await s.db.change(sql, values), 1, sql);
  });
  after(async () => s?.db.close());

  it('`stepgate audit export --since` writes JSON Lines, oldest first', async () => {
    let out = '';
    const code = await execute(['audit', 'export', '--since', '400d'], { env, out: (t) => (out += `${t}\n`), err: () => {}, stdin: async () => undefined });
    assert.equal(code, 0);
    const events = out.trim().split('\n').map((l) => JSON.parse(l) as { kind: string; at: string });
    assert.deepEqual(events.map((e) => e.kind), ['test.gone', 'test.live']);
    let recent = '';
    await execute(['audit', 'export', '--since', '30d'], { env, out: (t) => (recent += `${t}\n`), err: () => {}, stdin: async () => undefined });
    assert.deepEqual(recent.trim().split('\n').map((l) => (JSON.parse(l) as { kind: string }).kind), ['test.live']);
  });

  it('removes expired rows of every table and keeps the live ones', async () => {
    const config = s.config;
    const counts = await sweep(s.db, s.audit, { sessionTtl: config.ttl.session, lockoutWindow: config.lockout.windowSeconds, auditRetentionDays: config.auditRetentionDays });
    for (const table of ['oidc_payloads', 'flow_states', 'pending_links', 'admin_sessions', 'saml_assertions_used', 'remembered_devices', 'session_steps', 'login_failures', 'audit_events']) {
      assert.equal(counts[table], 1, `${table}: ${JSON.stringify(counts)}`);
    }
    const left = await s.db.select<{ kind: string }>('SELECT kind FROM audit_events', {});
    assert.deepEqual(left.map((r) => r.kind), ['test.live']);
    const failures = await s.db.select<{ key: string }>('SELECT key FROM login_failures', {});
    assert.deepEqual(failures.map((r) => r.key), ['live']);
    assert.deepEqual(Object.values(await sweep(s.db, s.audit, { sessionTtl: config.ttl.session, lockoutWindow: config.lockout.windowSeconds, auditRetentionDays: config.auditRetentionDays })).every((n) => n === 0), true, 'a second sweep finds nothing');
  });
});
