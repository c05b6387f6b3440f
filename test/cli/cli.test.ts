import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { runCli } from '../support/process.ts';
import { openServices } from '../../server/services.ts';
import { loadConfig } from '../../config/index.ts';
import { startStepgate, testDatabaseUrl, type TestServer } from '../support/server.ts';
import { Browser } from '../support/browser.ts';
import { beginLogin, relyingParty, RP_CALLBACK, PASSWORD } from '../support/fixtures.ts';

describe('CLI', function () {
  this.timeout(60_000);
  let env: Record<string, string>;
  let dir: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'stepgate-cli-'));
    env = { DATABASE_URL: await testDatabaseUrl(dir), STEPGATE_DATA_DIR: dir, STEPGATE_SECRET_KEYS: randomBytes(32).toString('base64'), STEPGATE_DEMO: '0' };
  });

  /** Everything the CLI could have written, read straight from the database. */
  async function state() {
    const services = await openServices(loadConfig(env));
    try {
      return { users: await services.users.list(), clients: await services.clients.list(), lockouts: await services.db.select('SELECT * FROM login_failures', {}) };
    } finally {
      await services.db.close();
    }
  }

  it('adds users, enrols TOTP and adds clients, with --json output', async () => {
    const user = await runCli(['user', 'add', 'Alice', '--password-stdin', '--email', 'alice@example.org', '--json'], env, PASSWORD);
    assert.equal(user.code, 0, user.stderr);
    assert.equal((JSON.parse(user.stdout) as { username: string }).username, 'alice', 'usernames are stored normalised');

    const totp = await runCli(['totp', 'enroll', 'alice', '--json'], env);
    const { secret, uri } = JSON.parse(totp.stdout) as { secret: string; uri: string };
    assert.match(secret, /^[A-Z2-7]{16,}$/);
    assert.match(uri, /^otpauth:\/\/totp\/.*secret=/);

    const human = await runCli(['totp', 'enroll', 'alice'], env);
    assert.match(human.stdout, /otpauth:\/\/totp/);
    assert.match(human.stdout, /▄|█/, 'a QR code is drawn in the terminal');

    const client = await runCli(['client', 'add', 'webapp', '--redirect-uri', RP_CALLBACK, '--secret-stdin', '--chain', 'password, TOTP', '--json'], env, 'webapp-secret-0123456789');
    assert.equal(client.code, 0, client.stderr);
    const shown = JSON.parse(client.stdout) as Record<string, unknown>;
    assert.deepEqual({ ...shown, chain_steps: undefined, chain_description: undefined }, {
      client_id: 'webapp', public: false, name: 'webapp', logo_uri: null, brand_color: null, policy_uri: null, tos_uri: null, client_uri: null, first_party: false, redirect_uris: [RP_CALLBACK], post_logout_redirect_uris: [],
      grant_types: ['authorization_code', 'refresh_token'], chain: 'password,totp', scopes: [], user_token_ttl: null, app_token_ttl: null,
      allow_non_expiring: false, app_token_format: 'opaque', saml_idps: [], admin_api: false, id_token_signed_response_alg: 'RS256',
      token_endpoint_auth_method: 'client_secret_basic', jwks: null, jwks_uri: null, allow_private_network: false, backchannel_logout_uri: null,
      backchannel_logout_session_required: false, logout_ends_grants: false, require_pushed_authorization_requests: false, dpop_bound_access_tokens: false,
      user_token_format: 'opaque',
      chain_steps: undefined, chain_description: undefined,
    }, 'the same view as the admin API, and the given secret is not echoed');
    const pub = await runCli(['client', 'add', 'spa', '--redirect-uri', 'https://spa.example/cb', '--public', '--chain', 'password'], env);
    assert.equal(pub.code, 0, pub.stderr);
    assert.match(pub.stdout, /Step 1: Password\./);
  });

  const bad: [string, string[], string?, RegExp?][] = [
    ['unknown authenticator', ['client', 'add', 'x1', '--redirect-uri', RP_CALLBACK, '--public', '--chain', 'password,fingerprint'], undefined, /unknown authenticator "fingerprint"/],
    ['empty chain', ['client', 'add', 'x2', '--redirect-uri', RP_CALLBACK, '--public', '--chain', ' '], undefined, /chain is empty/],
    ['TOTP first', ['client', 'add', 'x3', '--redirect-uri', RP_CALLBACK, '--public', '--chain', 'totp,password'], undefined, /cannot be in the first step/],
    ['bad redirect URI', ['client', 'add', 'x4', '--redirect-uri', 'not a uri', '--public', '--chain', 'password'], undefined, /not an absolute URL/],
    ['redirect URI with a fragment', ['client', 'add', 'x5', '--redirect-uri', 'https://a.example/cb#x', '--public', '--chain', 'password'], undefined, /fragment/],
    ['duplicate client', ['client', 'add', 'webapp', '--redirect-uri', RP_CALLBACK, '--public', '--chain', 'password'], undefined, /already exists/],
    ['secret and public', ['client', 'add', 'x6', '--redirect-uri', RP_CALLBACK, '--public', '--secret-stdin', '--chain', 'password'], 'some-secret-0123456789', /choose one of/],
    ['short secret', ['client', 'add', 'x7', '--redirect-uri', RP_CALLBACK, '--secret-stdin', '--chain', 'password'], 'short', /at least 16/],
    ['duplicate user', ['user', 'add', 'ALICE', '--password-stdin'], PASSWORD, /already exists/],
    ['password as nothing', ['user', 'add', 'bob', '--password-stdin'], '', /standard input was empty/],
    ['chain of an unknown client', ['client', 'chain', 'nope', 'password'], undefined, /no client "nope"/],
    ['unknown command', ['frobnicate'], undefined, /unknown command/],
    ['unknown option', ['user', 'list', '--colour'], undefined, /^stepgate: user list: unknown option --colour \(stepgate user list --help lists the options\)$/m],
    ['option without its value', ['client', 'add', 'x8', '--chain'], undefined, /option --chain needs a value/],
    ['a secret with characters that break curl -u', ['client', 'add', 'x9', '--redirect-uri', RP_CALLBACK, '--secret-stdin', '--chain', 'password'], 'secret:with/slash+plus=0123', /use only letters, digits/],
    ['a verb missing', ['client'], undefined, /stepgate client needs one of: list, show, add/],
  ];
  for (const [what, args, stdin, message] of bad) {
    it(`refuses ${what}: one line on stderr, exit 2, nothing written`, async () => {
      const before = await state();
      const res = await runCli(args, env, stdin);
      assert.equal(res.code, 2, `${res.stdout}\n${res.stderr}`);
      assert.equal(res.stderr.trim().split('\n').length, 1, res.stderr);
      assert.match(res.stderr, message!);
      assert.deepEqual(await state(), before);
    });
  }

  it('overview: how many clients and users, the newest sign-ins and failures (text and --json)', async () => {
    const { users, clients } = await state();
    const json = await runCli(['overview', '--json'], env);
    assert.equal(json.code, 0, json.stderr);
    const o = JSON.parse(json.stdout);
    assert.equal(o.clients, clients.length);
    assert.deepEqual(o.users, { total: users.length, disabled: users.filter((u) => u.disabled).length });
    assert.ok(Array.isArray(o.recent_sign_ins) && Array.isArray(o.recent_failures));
    const text = await runCli(['overview'], env);
    assert.match(text.stdout, new RegExp(`^clients: ${clients.length}\nusers: ${users.length} \\(`));
    assert.match(text.stdout, /recent sign-ins:\n {2}\(none\)/);
  });

  describe('a chain changed with the CLI applies to the next login, without restart', () => {
    let server: TestServer;
    before(async () => {
      server = await startStepgate({ dir, databaseUrl: env.DATABASE_URL, secretKey: env.STEPGATE_SECRET_KEYS });
    });
    after(async () => server.stop());

    it('password,totp → password: the next login asks no TOTP', async () => {
      const rp = await relyingParty(server, { clientId: 'webapp', secret: 'webapp-secret-0123456789' });
      const b1 = new Browser(RP_CALLBACK);
      let page = await b1.go((await beginLogin(rp)).url.href);
      page = await b1.submit(page, { username: 'alice', password: PASSWORD });
      assert.equal(page.$('input[name=code]').length, 1, 'TOTP is asked under password,totp');

      const changed = await runCli(['client', 'chain', 'webapp', 'password', '--json'], env);
      assert.equal((JSON.parse(changed.stdout) as { chain: string }).chain, 'password');

      const b2 = new Browser(RP_CALLBACK);
      let next = await b2.go((await beginLogin(rp)).url.href);
      next = await b2.submit(next, { username: 'alice', password: PASSWORD });
      assert.equal(next.$('button[value=allow]').length, 1, 'straight to consent under the new chain');
    });
  });
});
