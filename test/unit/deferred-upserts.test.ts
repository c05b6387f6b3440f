import assert from 'node:assert/strict';
import type { Adapter } from 'oidc-provider';
import { createAdapter } from '../../server/storage/oidc-adapter.ts';
import { statementCount } from '../../server/storage/database.ts';
import { scopeRequest } from '../../server/storage/request-reads.ts';
import type { Services } from '../../server/services.ts';
import { sharedDatabase } from '../support/seed.ts';
import { onPostgres } from '../support/server.ts';

/**
 * oidc-provider saves a request's rows one after another (an access token, then its
 * refresh token). Within a request each save is told done at once and the rows are
 * written together (server/storage/oidc-adapter.ts, batchedUpserts): the request's next
 * statement sees them, its answer waits for them, and fails if they could not be written.
 */
describe('oidc-provider rows saved within a request', () => {
  let services: Services;
  let model: (name: string) => Adapter;
  const payload = (kind: string, extra: Record<string, unknown> = {}) => ({ kind, clientId: 'c', accountId: 'u1', grantId: 'g1', ...extra });

  before(async () => {
    ({ services } = await sharedDatabase());
    const StepgateAdapter = createAdapter(services.db, services.keyring, services.clients);
    model = (name) => new StepgateAdapter(name);
    // a row the database refuses (as a full disk or a broken connection would), for the failure case
    if (onPostgres) {
      await services.db.sequelize.query(`CREATE FUNCTION refuse_marked() RETURNS trigger AS $$ BEGIN
        IF NEW.payload LIKE '%refuse-me%' THEN RAISE EXCEPTION 'refused by test trigger'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql`);
      await services.db.sequelize.query('CREATE TRIGGER refuse_marked BEFORE INSERT ON oidc_payloads FOR EACH ROW EXECUTE FUNCTION refuse_marked()');
    } else {
      await services.db.sequelize.query(`CREATE TRIGGER refuse_marked BEFORE INSERT ON oidc_payloads
        WHEN NEW.payload LIKE '%refuse-me%' BEGIN SELECT RAISE(ABORT, 'refused by test trigger'); END`);
    }
  });
  after(() => services.db.close());

  it('are written by one statement, seen by the request\'s next statement, and stored when it answers', async () => {
    const before = statementCount();
    await scopeRequest({}, async () => {
      await model('AccessToken').upsert('at-1', payload('AccessToken'), 600);
      await model('RefreshToken').upsert('rt-1', payload('RefreshToken'), 600);
      const found = await model('RefreshToken').find('rt-1');
      assert.equal(found?.kind, 'RefreshToken', 'the request reads the row it was told was saved');
    });
    assert.equal(statementCount() - before, 2, 'one INSERT for both rows, then the read');
    assert.equal((await model('AccessToken').find('at-1'))?.kind, 'AccessToken');
    assert.equal((await model('RefreshToken').find('rt-1'))?.kind, 'RefreshToken');
  });

  it('are written before the request\'s next write, in order (a save, then its removal)', async () => {
    await scopeRequest({}, async () => {
      await model('AccessToken').upsert('at-2', payload('AccessToken'), 600);
      await model('AccessToken').destroy('at-2');
    });
    assert.equal(await model('AccessToken').find('at-2'), undefined, 'removed, not written after its removal');
  });

  it('fail the request\'s answer when they cannot be written, and none of that statement\'s rows is kept', async () => {
    await assert.rejects(scopeRequest({}, async () => {
      await model('AccessToken').upsert('at-3', payload('AccessToken'), 600);
      await model('RefreshToken').upsert('rt-3', payload('RefreshToken', { marker: 'refuse-me' }), 600);
    }), /refused by test trigger/);
    assert.equal(await model('AccessToken').find('at-3'), undefined);
    assert.equal(await model('RefreshToken').find('rt-3'), undefined);
  });

  // A request's end writes its rows at once on SQLite (a statement there is a few
  // microseconds on this process's connection); on PostgreSQL, where each is a round trip,
  // the rows of the requests answered in one event-loop turn share one statement.
  it('of requests answered in one turn: one statement on PostgreSQL, one per request on SQLite, each stored when its request answers', async () => {
    const before = statementCount();
    const request = (id: string) => scopeRequest({}, async () => {
      await model('AccessToken').upsert(id, payload('AccessToken', { accountId: 'u-turn' }), 600);
    });
    const first = request('at-turn-1');
    // the first request has ended (its answer waits only for its row) before the second saves
    for (let i = 0; i < 50; i++) await new Promise<void>((resolve) => queueMicrotask(resolve));
    const second = request('at-turn-2');
    await first;
    const statements = statementCount() - before;
    assert.equal((await model('AccessToken').find('at-turn-1'))?.kind, 'AccessToken', 'stored when the first answers');
    await second;
    assert.equal((await model('AccessToken').find('at-turn-2'))?.kind, 'AccessToken');
    assert.equal(statements, onPostgres ? 1 : 2);
  });

  it('outside a request, a save is done only once written', async () => {
    await model('AccessToken').upsert('at-4', payload('AccessToken'), 600);
    const [row] = await services.db.select<{ n: number }>("SELECT count(*) AS n FROM oidc_payloads WHERE model = 'AccessToken' AND account_id = :a", { a: 'u1' });
    assert.equal(Number(row!.n), 2, 'at-1 and at-4');
  });
  describe('an interaction or session replaced within a request', () => {
    const stored = async (name: string, id: string) => (await model(name).find(id))?.kind;

    it('a removal then a save of the same model are one UPDATE: the old row gone, the new one there', async () => {
      await model('Session').upsert('s-old', payload('Session', { uid: 'u-old' }), 600);
      const before = statementCount();
      await scopeRequest({}, async () => {
        await model('Session').destroy('s-old');
        await model('Session').upsert('s-new', payload('Session', { uid: 'u-new' }), 600);
      });
      assert.equal(statementCount() - before, 1, 'one statement for the removal and the save');
      assert.equal(await stored('Session', 's-old'), undefined);
      assert.equal(await stored('Session', 's-new'), 'Session');
      assert.equal((await model('Session').findByUid('u-new'))?.jti, 's-new', 'found by its new uid');
      assert.equal(await model('Session').findByUid('u-old'), undefined);
    });

    it('a save then the removal of the old one (a rotated interaction) are one UPDATE too', async () => {
      await model('Interaction').upsert('i-old', payload('Interaction', { uid: 'i-old' }), 600);
      const before = statementCount();
      await scopeRequest({}, async () => {
        await model('Interaction').upsert('i-new', payload('Interaction', { uid: 'i-new' }), 600);
        await model('Interaction').destroy('i-old');
      });
      assert.equal(statementCount() - before, 1);
      assert.equal(await stored('Interaction', 'i-old'), undefined);
      assert.equal(await stored('Interaction', 'i-new'), 'Interaction');
    });

    it('the removal of a login\'s interaction and the save of its code are one UPDATE, past a look-up of the grant between them', async () => {
      await model('Interaction').upsert('i-done', payload('Interaction'), 600);
      await model('Grant').upsert('g-code', { kind: 'Grant', clientId: 'c', accountId: 'u1' }, 600);
      const before = statementCount();
      await scopeRequest({}, async () => {
        await model('Interaction').destroy('i-done');
        assert.equal((await model('Grant').find('g-code'))?.kind, 'Grant', 'a statement that cannot see the interaction');
        await model('AuthorizationCode').upsert('code-moved', payload('AuthorizationCode', { grantId: 'g-code' }), 600);
      });
      assert.equal(statementCount() - before, 2, 'the grant\'s look-up, then one UPDATE');
      assert.equal(await stored('Interaction', 'i-done'), undefined);
      assert.equal(await stored('AuthorizationCode', 'code-moved'), 'AuthorizationCode');
      assert.equal(await model('AuthorizationCode').find('code-moved').then((c) => c?.consumed), undefined, 'not consumed');
    });

    it('is made before a statement that could see the removed row (its model, or rows of any model)', async () => {
      await model('Session').upsert('s-listed', payload('Session', { accountId: 'u-listed' }), 600);
      await scopeRequest({}, async () => {
        await model('Session').destroy('s-listed');
        const rows = await services.db.select("SELECT id FROM oidc_payloads WHERE account_id = 'u-listed'", {});
        assert.equal(rows.length, 0, 'a look-up by account sees the removal');
      });
      await model('Session').upsert('s-listed2', payload('Session', { uid: 'u-listed2' }), 600);
      await scopeRequest({}, async () => {
        await model('Session').destroy('s-listed2');
        const rows = await services.db.select("SELECT id FROM oidc_payloads WHERE model = 'Session' AND uid = 'u-listed2'", {});
        assert.equal(rows.length, 0, 'a look-up naming the model sees the removal');
      });
    });

    it('taken up by no save, is made when the request ends, which waits for it', async () => {
      await model('Session').upsert('s-ending', payload('Session'), 600);
      await model('Grant').upsert('g-other', { kind: 'Grant', clientId: 'c', accountId: 'u1' }, 600);
      await scopeRequest({}, async () => {
        await model('Session').destroy('s-ending');
        await model('Grant').find('g-other');
        // turns pass (on PostgreSQL every statement ends one) without a statement that sees it
        await new Promise((resolve) => setTimeout(resolve, 20));
      });
      assert.equal(await stored('Session', 's-ending'), undefined);
    });

    it('is read as removed by the request\'s next read', async () => {
      await model('Interaction').upsert('i-read', payload('Interaction'), 600);
      await scopeRequest({}, async () => {
        await model('Interaction').find('i-read');
        await model('Interaction').destroy('i-read');
        assert.equal(await model('Interaction').find('i-read'), undefined);
      });
    });

    it('ends right when the old row was already gone, or the new id was taken', async () => {
      await model('Session').upsert('s-taken', payload('Session', { marker: 'before' }), 600);
      await model('Session').upsert('s-going', payload('Session'), 600);
      await scopeRequest({}, async () => {
        await model('Session').destroy('s-never-saved');
        await model('Session').upsert('s-fresh', payload('Session'), 600);
        await model('Session').destroy('s-going');
        await model('Session').upsert('s-taken', payload('Session', { marker: 'after' }), 600);
      });
      assert.equal(await stored('Session', 's-fresh'), 'Session', 'inserted: there was no row to turn into it');
      assert.equal(await stored('Session', 's-going'), undefined, 'removed');
      assert.equal((await model('Session').find('s-taken'))?.marker, 'after', 'the taken id holds the new payload');
    });

    it('a row saved and then removed in one request is not there', async () => {
      await scopeRequest({}, async () => {
        await model('Session').upsert('s-brief', payload('Session'), 600);
        await model('Session').destroy('s-brief');
      });
      assert.equal(await stored('Session', 's-brief'), undefined);
    });
  });

  describe('a code or token read with its grant', () => {
    it('finds the grant without another statement in the same request, and afresh in the next', async () => {
      await model('Grant').upsert('g-joined', { kind: 'Grant', clientId: 'c', accountId: 'u1', marker: 'grant' }, 600);
      await model('AuthorizationCode').upsert('code-joined', payload('AuthorizationCode', { grantId: 'g-joined' }), 600);
      await model('RefreshToken').upsert('rt-joined', payload('RefreshToken', { grantId: 'g-joined' }), 600);
      for (const [name, id] of [['AuthorizationCode', 'code-joined'], ['RefreshToken', 'rt-joined']] as const) {
        const before = statementCount();
        await scopeRequest({}, async () => {
          assert.equal((await model(name).find(id))?.grantId, 'g-joined');
          assert.equal((await model('Grant').find('g-joined'))?.marker, 'grant', `the grant of the ${name}`);
        });
        assert.equal(statementCount() - before, 1, `one statement for the ${name} and its grant`);
      }
      // a grant removed since is gone for the next request's lookup
      await model('Grant').destroy('g-joined');
      await scopeRequest({}, async () => {
        assert.equal((await model('RefreshToken').find('rt-joined'))?.grantId, 'g-joined');
        assert.equal(await model('Grant').find('g-joined'), undefined);
      });
    });

    it('leaves a grant saved in the request as saved', async () => {
      await model('Grant').upsert('g-own', { kind: 'Grant', clientId: 'c', accountId: 'u1', marker: 'old' }, 600);
      await model('AccessToken').upsert('at-own', payload('AccessToken', { grantId: 'g-own' }), 600);
      await scopeRequest({}, async () => {
        await model('Grant').upsert('g-own', { kind: 'Grant', clientId: 'c', accountId: 'u1', marker: 'new' }, 600);
        await model('AccessToken').find('at-own');
        assert.equal((await model('Grant').find('g-own'))?.marker, 'new');
      });
    });
  });
});
