import assert from 'node:assert/strict';
import type { Adapter } from 'oidc-provider';
import { createAdapter } from '../../server/storage/oidc-adapter.ts';
import { statementCount } from '../../server/storage/database.ts';
import { scopeRequest } from '../../server/storage/request-reads.ts';
import { turnBatches } from '../../server/storage/turn-batches.ts';
import type { Services } from '../../server/services.ts';
import { sharedDatabase } from '../support/seed.ts';
import { onPostgres } from '../support/server.ts';

describe('calls of one event-loop turn made one (server/storage/turn-batches.ts)', () => {
  it('distinct keys go in one call; a repeated lookup shares its answer; a repeated claim gets the missing answer; a failure reaches every caller', async () => {
    const calls: string[][] = [];
    const lookup = turnBatches<string, string>(2, 'none', 'shared', async (keys) => {
      calls.push(keys);
      return new Map(keys.filter((k) => k !== 'c').map((k) => [k, k.toUpperCase()]));
    });
    assert.deepEqual(await Promise.all(['a', 'b', 'a', 'c'].map(lookup)), ['A', 'B', 'A', 'none']);
    assert.deepEqual(calls, [['a', 'b'], ['c']], 'two at most per call, each key once');

    const claim = turnBatches<string, number>(32, 0, 'missing', async (keys) => new Map(keys.map((k) => [k, 1])));
    assert.deepEqual(await Promise.all(['x', 'x', 'y'].map(claim)), [1, 0, 1], 'one of two claims of x wins');

    const failing = turnBatches<string, number>(32, 0, 'shared', async () => { throw new Error('no database'); });
    const results = await Promise.allSettled(['p', 'q', 'p'].map(failing));
    assert.deepEqual(results.map((r) => r.status), ['rejected', 'rejected', 'rejected']);
  });
});

/**
 * PostgreSQL: the lookups and consumes of codes and tokens made in one turn by several
 * requests are one statement each (server/storage/oidc-adapter.ts, postgresTurnBatches);
 * SQLite runs one statement per call.
 */
describe('oidc-provider lookups and consumes of several requests in one turn', () => {
  let services: Services;
  let model: (name: string) => Adapter;
  const payload = (kind: string, grantId: string) => ({ kind, clientId: 'c', accountId: 'u-batches', grantId });

  before(async () => {
    ({ services } = await sharedDatabase());
    const StepgateAdapter = createAdapter(services.db, services.keyring, services.clients);
    model = (name) => new StepgateAdapter(name);
    for (const id of ['rt-b1', 'rt-b2', 'rt-b3']) await model('RefreshToken').upsert(id, payload('RefreshToken', `g-${id}`), 600);
  });
  after(() => services.db.close());

  it('three requests: one lookup and one consume statement on PostgreSQL; one consume of a token per token, and a second consume of one in the same turn fails', async () => {
    const before = statementCount();
    const redeem = (id: string) => scopeRequest({}, async () => {
      const token = await model('RefreshToken').find(id);
      assert.equal(token?.kind, 'RefreshToken');
      await model('RefreshToken').consume(id);
    });
    const results = await Promise.allSettled(['rt-b1', 'rt-b2', 'rt-b3', 'rt-b3'].map(redeem));
    assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'fulfilled', 'fulfilled', 'rejected'], 'rt-b3 is consumed once');
    assert.match(String(((results[3] as PromiseRejectedResult).reason as { error_detail?: string }).error_detail), /already used/);
    const statements = statementCount() - before;
    // PostgreSQL: the lookups, the consumes, then the loser's read of its grant and revocation
    // (SQLite: the two lookups of rt-b3, made in one burst, share theirs)
    assert.equal(statements, onPostgres ? 4 : 3 + 4 + 2);
    for (const id of ['rt-b1', 'rt-b2']) assert.ok((await model('RefreshToken').find(id))?.consumed, `${id} is consumed`);
  });
});
