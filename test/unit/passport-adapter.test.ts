import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Strategy } from 'passport';
import { openDatabase, type Database } from '../../server/storage/database.ts';
import { Users } from '../../server/storage/users.ts';
import { LinkedIdentities } from '../../server/federation/linked-identities.ts';
import { createPassportAuthenticator } from '../../authenticators/passport/index.ts';
import type { StepContext } from '../../server/flow/contract.ts';

/** The actions passport gives a strategy for one call. */
type Actions = { success(user: unknown): void; fail(challenge?: string): void; redirect(url: string): void; error(err: Error): void; pass(): void };

/** A minimal strategy (all passport asks of one is `authenticate`) that answers with whatever `act` does. */
const scripted = (act: (self: Actions, options: Record<string, unknown>) => void): Strategy => ({
  authenticate(this: unknown, _req: unknown, options: Record<string, unknown>) {
    act(this as Actions, options);
  },
} as unknown as Strategy);

describe('passport adapter: strategy actions become step results', function () {
  let db: Database;
  let users: Users;
  let links: LinkedIdentities;

  before(async () => {
    db = await openDatabase(`sqlite:${join(mkdtempSync(join(tmpdir(), 'stepgate-passport-')), 'db.sqlite')}`);
    users = new Users(db);
    links = new LinkedIdentities(db);
  });
  after(async () => db.close());

  const step = (input: Record<string, string> = {}, accountId?: string): StepContext => ({
    input, accountId, state: {}, urls: { action: '/interaction/u/step/0', callback: '/federation/corp/callback' }, clientAddress: '127.0.0.1',
  });
  const adapter = (act: Parameters<typeof scripted>[0], jit = false) => createPassportAuthenticator(
    { id: 'corp', displayName: 'Corp', strategy: scripted(act), issuer: 'https://corp.example', subject: (u) => (u as { id?: string }).id, jit },
    { users, links, issuer: 'http://localhost:1', timeoutSeconds: 1 });

  it('redirect → a redirect step, with the fixed callback URL offered to the strategy', async () => {
    let callbackURL: unknown;
    const a = adapter((self, options) => {
      callbackURL = options.callbackURL;
      self.redirect('https://corp.example/authorize?x=1');
    });
    const result = await a.start(step());
    assert.equal(result.kind === 'redirect' && result.location.href, 'https://corp.example/authorize?x=1');
    assert.equal(callbackURL, 'http://localhost:1/federation/corp/callback');
  });

  it('success with an unlinked identity: refused without JIT, a new account with JIT, the same account next time', async () => {
    const refused = await adapter((self) => self.success({ id: 'u-1' })).resume(step({ code: 'c' }));
    assert.equal(refused.kind, 'failure');
    const created = await adapter((self) => self.success({ id: 'u-1' }), true).resume(step({ code: 'c' }));
    assert.equal(created.kind, 'success');
    const again = await adapter((self) => self.success({ id: 'u-1' }), true).resume(step({ code: 'c' }));
    assert.equal(again.kind === 'success' && created.kind === 'success' && again.accountId === created.accountId, true);
    assert.deepEqual(again.kind === 'success' && again.amr, ['fed']);
  });

  it('fail, pass, error, a throw and silence each fail the step with a page', async () => {
    const silent = adapter(() => {});
    for (const a of [adapter((self) => self.fail('no')), adapter((self) => self.pass()), adapter((self) => self.error(new Error('x'))),
      adapter(() => { throw new Error('boom'); }), silent]) {
      const result = await a.resume(step({ code: 'c' }));
      assert.equal(result.kind, 'failure');
      assert.ok(result.kind === 'failure' && result.view, 'shown on a page with a way back');
    }
  });
});
