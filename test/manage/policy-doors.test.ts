import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startStepgate, type TestServer } from '../support/server.ts';
import { addUser, addClient } from '../support/fixtures.ts';
import { api, clientToken, consoleLogin, refusedUnchanged } from '../support/admin.ts';
import { inProcessCli } from '../support/cli.ts';

const L2 = 'urn:stepgate:loa:2';
const stepUp = { steps: [{ options: ['password'] }, { options: ['totp'], level: 2, maxAge: 3600 }], levels: { 'urn:stepgate:loa:1': 1, [L2]: 2 } };
const office = { steps: [{ options: ['password'] }, { options: ['totp'], unless: { network: ['10.0.0.0/8'] }, remember: 2592000 }] };

/**
 * Policies through every door: the JSON chain form and its refusals, the simulator (CLI,
 * admin API, console "Try it") and identity providers' upstream-amr trust. The CLI runs
 * in-process on the broker's database.
 */
describe('policies through the CLI, the admin API and the console', function () {
  this.timeout(120_000);
  let server: TestServer;
  let token: string;
  const secretKey = randomBytes(32).toString('base64');

  before(async () => {
    server = await startStepgate({ secretKey });
    token = await clientToken(server, 'automation', { adminApi: true });
    await addUser(server, 'alice');
    await addClient(server, 'shop', 'password');
    await addClient(server, 'intranet', 'password');
  });
  after(async () => server?.stop());

  const cli = (args: string[]) => inProcessCli(server, secretKey)(args);

  it('CLI: client chain --file takes the JSON form, stores it and describes it in plain words', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'stepgate-chain-')), 'chain.json');
    writeFileSync(file, JSON.stringify(stepUp, null, 2));
    const r = await cli(['client', 'chain', 'shop', '--file', file]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Step 2: .* — only for level 2 \(acr urn:stepgate:loa:2\), asked again after 1 hour\./);
    assert.deepEqual(JSON.parse((await server.stepgate.clients.get('shop'))!.chain), stepUp);
  });

  it('CLI: a bad chain is one line naming the path, exit 2, nothing written', async () => {
    const before = (await server.stepgate.clients.get('shop'))!.chain;
    for (const [chain, message] of [
      ['{"steps":[{"options":["password"]},{"options":["totp"],"unless":{"network":["10.0.0.0/33"]}}]}', /steps\[1\]\.unless\.network\[0\]/],
      ['{"steps":[{"options":["password"],"remember":60}]}', /steps\[0\]\.remember/],
      ['{"steps":[{"options":["password"]},{"options":["totp"],"maxAge":-5}]}', /steps\[1\]\.maxAge: must not be negative/],
    ] as const) {
      const r = await cli(['client', 'chain', 'shop', chain]);
      assert.equal(r.code, 2, r.stdout);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, message);
    }
    assert.equal((await server.stepgate.clients.get('shop'))!.chain, before);
    assert.equal((await cli(['client', 'chain', 'shop'])).code, 2, 'neither a chain nor --file');
  });

  it('API: chain accepts either form; a JSON object with an unknown key is a 400 naming it, nothing written', async () => {
    const res = await api(server, 'PATCH', '/clients/intranet', { token, body: { chain: office } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.match(res.body.client.chain_description, /not from 10\.0\.0\.0\/8, can be remembered for 30 days/);
    const text = await api(server, 'PATCH', '/clients/intranet', { token, body: { chain: '{"steps":[{"options":["password"]}]}' } });
    assert.equal(text.body.client.chain, 'password', 'a JSON chain that text can say is stored as text');
    await api(server, 'PATCH', '/clients/intranet', { token, body: { chain: office } });
    await refusedUnchanged(server, () => api(server, 'PATCH', '/clients/intranet', { token, body: { chain: { steps: [{ options: ['password'], colour: 'red' }] } } }), 400, /steps\[0\]: unknown key "colour"/);
  });

  it('simulate: the CLI (text and --json), the API and the console give the same answer', async () => {
    const text = await cli(['simulate', 'intranet', '--user', 'alice', '--address', '10.1.2.3']);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /Step 1 \(.*\): ask /);
    assert.match(text.stdout, /Step 2 \(.*\): skip — condition met: not with address in 10\.0\.0\.0\/8/);
    assert.match(text.stdout, /amr: pwd\n/);

    const json = await cli(['simulate', 'shop', '--user', 'alice', '--acr', L2, '--session', 'password@-10m', '--json']);
    assert.equal(json.code, 0, json.stderr);
    const sim = JSON.parse(json.stdout);
    assert.deepEqual(sim.steps.map((s: { outcome: string }) => s.outcome), ['satisfied', 'ask']);
    assert.equal(sim.acr, L2);
    assert.deepEqual(sim.amr, ['pwd', 'otp', 'mfa']);

    const viaApi = await api(server, 'POST', '/clients/shop/simulate', { token, body: { user: 'alice', acr: L2, session: 'password@-10m' } });
    assert.equal(viaApi.status, 200, JSON.stringify(viaApi.body));
    assert.deepEqual(viaApi.body.steps.map((s: { outcome: string }) => s.outcome), ['satisfied', 'ask']);
    assert.equal(viaApi.body.acr, L2);

    const stale = await api(server, 'POST', '/clients/shop/simulate', { token, body: { user: 'alice', acr: L2, session: 'password@-10m', max_age: 60 } });
    assert.deepEqual(stale.body.steps.map((s: { outcome: string }) => s.outcome), ['ask', 'ask'], 'max_age: the 10-minute-old password is asked again');

    const remembered = await api(server, 'POST', '/clients/intranet/simulate', { token, body: { user: 'alice', address: '192.0.2.7', remembered_device: true } });
    assert.equal(remembered.body.steps[1].outcome, 'skip');
    assert.match(remembered.body.steps[1].reason, /remembered/);

    for (const [body, path] of [[{ user: 'nobody' }, 'user'], [{ user: 'alice', address: 'not-an-ip' }, 'address'], [{ user: 'alice', session: 'password@10m' }, 'session'], [{ user: 'alice', colour: 1 }, '']] as const) {
      const res = await api(server, 'POST', '/clients/shop/simulate', { token, body });
      assert.equal(res.status, 400, JSON.stringify(res.body));
      if (path) assert.equal(res.body.issues?.[0]?.path, path, JSON.stringify(res.body));
    }
    assert.equal((await api(server, 'POST', '/clients/nope/simulate', { token, body: { user: 'alice' } })).status, 404);
    const cliRefusal = await cli(['simulate', 'shop', '--user', 'nobody']);
    assert.equal(cliRefusal.code, 2);
    assert.match(cliRefusal.stderr, /no user "nobody"/);

    const boss = await addUser(server, 'boss', { roles: ['admin'] });
    const { browser } = await consoleLogin(server, boss);
    const chainPage = await browser.go(`${server.issuer}/admin/clients/shop/chain`);
    assert.match(chainPage.$('#chain-description').text(), /only for level 2/);
    const tried = await browser.submit(chainPage, { user: 'alice', acr: L2, session: 'password@-10m' }, /\/simulate$/);
    assert.equal(tried.status, 200, tried.$('.error').text());
    assert.match(tried.$('#simulation').text(), /Step 1 \(.*\): satisfied[\s\S]*Step 2 \(.*\): ask[\s\S]*acr: urn:stepgate:loa:2/);
    const refused = await browser.submit(tried, { user: 'alice', address: 'nowhere' }, /\/simulate$/);
    assert.equal(refused.status, 400);
    assert.match(refused.$('.error').text(), /address: is not an IPv4 or IPv6 address/);
  });

  it('identity providers: upstream amr trust and its name map, through the API and the CLI', async () => {
    const created = await api(server, 'POST', '/identity-providers', {
      token, body: { name: 'glewlwyd', issuer: 'https://idp.example', client_id: 'broker', client_secret: 'x'.repeat(20), trust_upstream_amr: true, amr_map: { password: 'pwd' } },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.trust_upstream_amr, true);
    assert.deepEqual((await server.stepgate.idps.get('glewlwyd'))!.amrMap, { password: 'pwd' });
    const r = await cli(['idp', 'update', 'glewlwyd', '--no-trust-upstream-amr', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).trust_upstream_amr, false);
    assert.equal((await server.stepgate.idps.get('glewlwyd'))!.trustUpstreamAmr, false);
    assert.equal((await cli(['idp', 'update', 'glewlwyd', '--amr-map', 'password'])).code, 2);
  });
});
