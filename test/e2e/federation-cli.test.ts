import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startStepgate, freePort, type TestServer } from '../support/server.ts';
import { startUpstream, type Upstream } from '../support/upstream.ts';
import { Browser } from '../support/browser.ts';
import { RP_CALLBACK } from '../support/fixtures.ts';
import { runCli } from '../support/process.ts';
import { authorizationRequestUpstream } from '../support/federation.ts';


/** `stepgate idp ...` and `stepgate user link|unlink`, run as separate processes against a running broker's database. */
describe('federation: the CLI', function () {
  this.timeout(60_000);
  let server: TestServer;
  let yahoo: Upstream;
  const secretKey = randomBytes(32).toString('base64');

  before(async () => {
    const port = await freePort();
    yahoo = await startUpstream({ host: '127.0.0.1', users: [], redirectUris: [`http://localhost:${port}/federation/yahoo/callback`] });
    server = await startStepgate({ port, secretKey });
  });
  after(async () => {
    await server?.stop();
    await yahoo?.stop();
  });

  function cli(args: string[], stdin?: string) {
    return runCli(args, {
      DATABASE_URL: server.config.databaseUrl, STEPGATE_SECRET_KEYS: secretKey, ISSUER: server.issuer, STEPGATE_DATA_DIR: server.dir, STEPGATE_DEMO: '0',
    }, stdin);
  }

  it('idp add → client chain naming it → a login goes upstream at once, on the running broker', async () => {
    const added = await cli(['idp', 'add', 'yahoo', '--issuer', yahoo.issuer, '--client-id', yahoo.clientId, '--client-secret-stdin', '--jit', '--allow-private-network', '--json'], `${yahoo.clientSecret}\n`);
    assert.equal(added.code, 0, added.stderr);
    const out = JSON.parse(added.stdout) as { name: string; jit: boolean; redirect_uri: string; client_secret?: string };
    assert.equal(out.name, 'yahoo');
    assert.equal(out.jit, true);
    assert.equal(out.redirect_uri, `${server.issuer}/federation/yahoo/callback`);
    assert.ok(!added.stdout.includes(yahoo.clientSecret), 'the secret is never printed');

    const client = await cli(['client', 'add', 'cli-app', '--redirect-uri', RP_CALLBACK, '--secret-stdin', '--chain', 'yahoo|password,totp', '--json'], 'cli-app-secret-0123456789\n');
    assert.equal(client.code, 0, client.stderr);

    const listed = JSON.parse((await cli(['idp', 'list', '--json'])).stdout) as { name: string; issuer: string }[];
    assert.deepEqual(listed.map((i) => [i.name, i.issuer]), [['yahoo', yahoo.issuer]]);
    const [row] = await server.stepgate.db.select<{ client_secret: string }>('SELECT client_secret FROM identity_providers', {});
    assert.ok(!row!.client_secret.includes(yahoo.clientSecret), 'the client secret is sealed at rest');

    const browser = new Browser(RP_CALLBACK);
    const url = new URL(`${server.issuer}/authorize`);
    url.search = new URLSearchParams({ client_id: 'cli-app', response_type: 'code', scope: 'openid', redirect_uri: RP_CALLBACK, code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' }).toString();
    let page = await browser.go(url.href);
    assert.equal(page.$('button[value=yahoo]').length, 1, 'the choice offers Yahoo');
    page = await browser.request(new URL(page.$('form').attr('action')!, server.issuer).href, { form: { _csrf: page.$('input[name=_csrf]').attr('value')!, option: 'yahoo' } });
    const upstreamAuth = new URL(await authorizationRequestUpstream(browser, page.location!, yahoo.issuer));
    assert.equal(upstreamAuth.searchParams.get('client_id'), yahoo.clientId);
    assert.equal(upstreamAuth.searchParams.get('redirect_uri'), `${server.issuer}/federation/yahoo/callback`);
  });

  it('user link / unlink, with clear refusals', async () => {
    const s = server.stepgate;
    await s.users.create({ username: 'carol', passwordHash: null });
    assert.equal((await cli(['user', 'link', 'carol', 'yahoo', 'sub-carol', '--json'])).code, 0);
    assert.equal((await s.links.find(yahoo.issuer, 'sub-carol'))?.accountId, (await s.users.byUsername('carol'))!.id);

    await s.users.create({ username: 'dan', passwordHash: null });
    const taken = await cli(['user', 'link', 'dan', 'yahoo', 'sub-carol']);
    assert.equal(taken.code, 2);
    assert.match(taken.stderr, /already linked to another user/);

    const unlinked = await cli(['user', 'unlink', 'carol', 'yahoo', '--json']);
    assert.equal(unlinked.code, 0, unlinked.stderr);
    assert.equal(await s.links.find(yahoo.issuer, 'sub-carol'), undefined);
  });

  it('idp add and remove refuse bad input with one line and exit 2', async () => {
    const cases: [string[], RegExp][] = [
      [['idp', 'add', 'Bad Name', '--preset', 'yahoo', '--client-id', 'x', '--client-secret-stdin'], /lowercase/],
      [['idp', 'add', 'password', '--preset', 'yahoo', '--client-id', 'x', '--client-secret-stdin'], /already the name/],
      [['idp', 'add', 'g', '--preset', 'nope', '--client-id', 'x', '--client-secret-stdin'], /unknown preset/],
      [['idp', 'add', 'g', '--preset', 'google', '--issuer', 'https://x.example', '--client-id', 'x', '--client-secret-stdin'], /choose one of/],
      [['idp', 'add', 'g', '--issuer', 'http://idp.example.com', '--client-id', 'x', '--client-secret-stdin'], /must be https/],
      [['idp', 'add', 'g', '--preset', 'google', '--client-secret-stdin'], /--client-id/],
      [['idp', 'remove', 'yahoo'], /in the chain of cli-app/],
      [['idp', 'remove', 'nothing-here'], /no identity provider/],
    ];
    for (const [args, message] of cases) {
      const r = await cli(args, 'a-secret\n');
      assert.equal(r.code, 2, `${args.join(' ')} → ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trim().split('\n').length, 1, 'one line');
    }
    const google = await cli(['idp', 'add', 'google', '--preset', 'google', '--client-id', 'g-id', '--client-secret-stdin', '--json'], 'g-secret\n');
    assert.equal(google.code, 0, google.stderr);
    assert.equal((JSON.parse(google.stdout) as { issuer: string }).issuer, 'https://accounts.google.com');
    assert.equal((await cli(['idp', 'remove', 'google'])).code, 0);
    assert.equal(await server.stepgate.idps.get('google'), undefined);
  });
});
