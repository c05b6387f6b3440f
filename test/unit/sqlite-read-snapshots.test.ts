import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { openDatabase, type Database } from '../../server/storage/database.ts';
import { outsideRequests, scopeRequest } from '../../server/storage/request-reads.ts';

/**
 * SQLite: within requests, the reads of one event-loop turn share one read transaction
 * (server/storage/statements.ts, `snapshotAt`). Whatever was committed before a request
 * began, or by this process's Sequelize connections before a read, that read sees. Every
 * step below runs in one event-loop turn (only already-settled promises are awaited), where
 * the snapshot would otherwise stay open.
 */
describe('SQLite: the reads of one turn share a snapshot, never an older one than their request', () => {
  let db: Database;
  let file: string;
  before(async () => {
    file = join(mkdtempSync(join(tmpdir(), 'stepgate-snapshots-')), 'db.sqlite');
    db = await openDatabase(`sqlite:${file}`);
  });
  after(() => db.close());

  const insert = 'INSERT INTO login_failures (key, failures, lockouts, first_failure_at) VALUES (:key, 1, 0, 0)';
  const has = async (key: string) => (await db.select('SELECT key FROM login_failures WHERE key = :key', { key })).length === 1;
  const inRequest = <T>(work: () => Promise<T>) => {
    let result!: T;
    return scopeRequest({}, async () => { result = await work(); }).then(() => result);
  };

  it('a request that begins after another connection\'s commit sees it, though an earlier request\'s snapshot of the turn is open', async () => {
    const other = new DatabaseSync(file);
    try {
      let seenBySecond: boolean | undefined;
      const seenByFirst = await inRequest(async () => {
        // the first request reads: the turn's snapshot begins
        const seen = await has('a');
        // another connection commits
        other.prepare("INSERT INTO login_failures (key, failures, lockouts, first_failure_at) VALUES ('a', 1, 0, 0)").run();
        // a request that begins after that commit, in the same turn
        seenBySecond = await inRequest(() => has('a'));
        return seen;
      });
      assert.equal(seenByFirst, false);
      assert.equal(seenBySecond, true);
    } finally {
      other.close();
    }
  });

  it('outside requests (CLI, sweeps, batched writes) a read sees the latest commit, though a request\'s snapshot of the turn is open', async () => {
    const other = new DatabaseSync(file);
    try {
      let seenOutside: boolean | undefined;
      await inRequest(async () => {
        await has('c');
        other.prepare("INSERT INTO login_failures (key, failures, lockouts, first_failure_at) VALUES ('c', 1, 0, 0)").run();
        seenOutside = await outsideRequests(() => has('c'));
      });
      assert.equal(seenOutside, true);
    } finally {
      other.close();
    }
  });

  it('within one request, a row committed by a Sequelize transaction is seen by the next read, in the same turn', async () => {
    const seen = await inRequest(async () => {
      assert.equal(await has('b'), false);
      await db.transaction(async (transaction) => {
        await db.change(insert, { key: 'b' }, transaction);
      });
      return has('b');
    });
    assert.equal(seen, true);
  });
});
