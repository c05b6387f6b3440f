import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startStepgate, type TestServer } from '../support/server.ts';
import { addUser } from '../support/fixtures.ts';
import { api, clientToken } from '../support/admin.ts';
import { inProcessCli } from '../support/cli.ts';

/**
 * Helpdesk hand-over of recovery codes (issue 12): the same manage operation through the CLI
 * and the admin API; each new set replaces the old one; only hashes are stored; audited.
 */
describe('manage: recovery codes for a helpdesk hand-over', function () {
  this.timeout(60_000);
  let server: TestServer;
  let token: string;
  const secretKey = randomBytes(32).toString('base64');
  const cli = (args: string[]) => inProcessCli(server, secretKey)(args);

  before(async () => {
    server = await startStepgate({ secretKey });
    token = await clientToken(server, 'helpdesk', { adminApi: true });
    await addUser(server, 'rita');
  });
  after(async () => server?.stop());

  it('stepgate recovery generate --json gives 10 single-use codes; the API gives a new set and the old ones die', async () => {
    const r = await cli(['recovery', 'generate', 'rita', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const { codes } = JSON.parse(r.stdout) as { codes: string[] };
    assert.equal(codes.length, 10);
    assert.equal(new Set(codes).size, 10);
    const rita = (await server.stepgate.users.byUsername('rita'))!;
    assert.equal(await server.stepgate.credentials.useRecoveryCode(rita.id, codes[0]!), true);
    assert.equal(await server.stepgate.credentials.useRecoveryCode(rita.id, codes[0]!), false, 'single use');

    const again = await api(server, 'POST', `/users/${rita.id}/recovery-codes`, { token, body: {} });
    assert.equal(again.status, 200);
    const fresh = (again.body as { codes: string[] }).codes;
    assert.equal(fresh.length, 10);
    assert.equal(await server.stepgate.credentials.useRecoveryCode(rita.id, codes[1]!), false, 'the old set stopped working');
    assert.equal(await server.stepgate.credentials.useRecoveryCode(rita.id, fresh[0]!), true);

    const rows = await server.stepgate.db.select<{ data: string }>("SELECT data FROM credentials WHERE type = 'recovery'", {});
    assert.ok(rows.every((row) => !fresh.some((c) => row.data.includes(c))), 'codes stored only as hashes');
    const audit = await server.stepgate.db.select<{ actor: string }>("SELECT actor FROM audit_events WHERE kind = 'admin.user.recovery_codes_generated' ORDER BY id", {});
    assert.deepEqual(audit.map((a) => a.actor.split(':')[0]), ['cli', 'api']);
  });

  it('an unknown user is one line on stderr and exit 2', async () => {
    const r = await cli(['recovery', 'generate', 'nobody']);
    assert.equal(r.code, 2);
    assert.equal(r.stderr.trim().split('\n').length, 1);
  });
});
