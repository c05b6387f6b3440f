import assert from 'node:assert/strict';
import { QueryTypes } from 'sequelize';
import { openServices, type Services } from '../../server/services.ts';
import { loadConfig } from '../../config/index.ts';
import { statementCount } from '../../server/storage/database.ts';
import { sharedDatabase } from '../support/seed.ts';

/**
 * Audit notes (the login path's and the token endpoint's events) are held back and
 * written together, at most 200 ms after the first (server/audit/index.ts): one statement
 * for a burst, never missing from what this process reads, and written when it closes.
 */
describe('audit notes', () => {
  let services: Services;
  let env: Record<string, string>;
  /** rows of `kind`, read on Sequelize's own connection: what is committed, with no flush asked */
  const committed = async (kind: string) => (await services.db.sequelize.query<{ id: number }>(
    'SELECT id FROM audit_events WHERE kind = :kind ORDER BY id', { replacements: { kind }, type: QueryTypes.SELECT })).length;

  before(async () => {
    ({ services, env } = await sharedDatabase());
  });
  after(() => services.db.close());

  it('of a burst are written by one statement within the window, unasked', async () => {
    const before = statementCount();
    for (let i = 0; i < 5; i++) services.audit.note({ kind: 'test.burst', subject: `s${i}` });
    const deadline = Date.now() + 3000;
    while ((await committed('test.burst')) < 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal(await committed('test.burst'), 5, 'all five committed within 3 s');
    assert.equal(statementCount() - before, 1, 'one INSERT for the five');
  });

  it('are written before this process reads the audit log, and before a later record of a change', async () => {
    services.audit.note({ kind: 'test.order', subject: 'first' });
    const [read] = await services.db.select<{ subject: string }>("SELECT subject FROM audit_events WHERE kind = 'test.order'", {});
    assert.equal(read?.subject, 'first', 'a read of the table sees the note at once');

    services.audit.note({ kind: 'test.order', subject: 'second' });
    await services.db.transaction((t) => services.audit.record({ kind: 'test.order', subject: 'third' }, t));
    const rows = await services.audit.list({ kind: 'test.order' });
    assert.deepEqual(rows.map((r) => r.subject), ['third', 'second', 'first'], 'newest first, in the order they happened');
  });

  it('are written when the database closes (as on SIGTERM)', async () => {
    const other = await openServices(loadConfig({ ...env, LOG_LEVEL: 'silent', STEPGATE_DEMO: '0' }));
    other.audit.note({ kind: 'test.closing' });
    await other.db.close();
    assert.equal(await committed('test.closing'), 1);
  });
});
