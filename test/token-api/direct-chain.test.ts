import assert from 'node:assert/strict';
import { ChainRunner } from '../../server/flow/runner.ts';
import { FlowStates } from '../../server/flow/state.ts';
import { SessionSteps } from '../../server/flow/sso.ts';
import type { Authenticator } from '../../server/flow/contract.ts';
import { createAuthenticators } from '../../authenticators/index.ts';
import { refusal } from '../../server/grants/errors.ts';
import { startStepgate, type TestServer } from '../support/server.ts';
import { addUser, PASSWORD, totpCode } from '../support/fixtures.ts';

/**
 * The runner's non-interactive path with the real password and TOTP authenticators and
 * storage. This tree has no federated authenticator yet, so the interactive step is a
 * stand-in that does what one does: send the browser elsewhere.
 */
const federated: Authenticator = {
  id: 'federated',
  label: 'Yahoo',
  requiresUser: false,
  amr: ['fed'],
  async start() {
    return { kind: 'redirect', location: new URL('https://idp.example/authorize') };
  },
  async resume() {
    return { kind: 'failure', error: { code: 'no_callback', message: 'no callback' } };
  },
};

describe('chain runner: satisfying a chain without a browser', function () {
  this.timeout(30_000);
  let server: TestServer;
  let alice: Awaited<ReturnType<typeof addUser>>;
  const chains: Record<string, string> = {
    'pw-then-yahoo': 'password,federated',
    'yahoo-or-pw': 'federated|password',
    'pw-totp': 'password,totp',
    'pw-email': 'password,email',
  };
  let runner: ChainRunner;

  before(async () => {
    server = await startStepgate();
    alice = await addUser(server, 'alice');
    await addUser(server, 'nototp', { totp: false });
    const s = server.stepgate;
    runner = new ChainRunner({
      authenticators: [...createAuthenticators(s), federated],
      states: new FlowStates(s.db), sso: new SessionSteps(s.db),
      chainOf: async (clientId) => chains[clientId], interactionTtl: 600, ssoFreshness: 600, basePath: '',
    });
  });
  after(async () => server.stop());

  const pw = (username: string, password = PASSWORD) => ({ username, password });

  it('a chain with an interactive step is refused before any credential is checked', async () => {
    const outcome = await runner.satisfyDirectly('pw-then-yahoo', { password: pw('alice', 'wrong'), totp: undefined }, '192.0.2.1', undefined, 'password_grant');
    assert.equal(outcome.kind, 'refused');
    assert.equal(outcome.kind === 'refused' && outcome.code, 'interactive_chain');
    const error = refusal(outcome as Extract<typeof outcome, { kind: 'refused' }>, 'password') as Error & { error?: string; error_description?: string };
    assert.equal(error.error, 'invalid_grant');
    assert.match(String(error.error_description), /authorization code flow/);
    assert.equal(await server.stepgate.lockout.lockedUntil('password:account:alice'), null);
    const [row] = await server.stepgate.db.select<{ failures: number }>("SELECT failures FROM login_failures WHERE key = 'password:account:alice'", {});
    assert.equal(row, undefined, 'the wrong password was never tried');
  });

  it('a step only an emailed code satisfies needs a browser: refused before the password is tried', async () => {
    const outcome = await runner.satisfyDirectly('pw-email', { password: pw('alice', 'wrong'), totp: undefined }, '192.0.2.1', undefined, 'password_grant');
    assert.equal(outcome.kind === 'refused' && outcome.code, 'interactive_chain');
    assert.match(outcome.kind === 'refused' ? outcome.message : '', /Code by email|email/);
    const [row] = await server.stepgate.db.select<{ failures: number }>("SELECT failures FROM login_failures WHERE key = 'password:account:alice'", {});
    assert.equal(row, undefined, 'the wrong password was never tried');
  });

  it('a step whose alternatives include a non-interactive one is satisfied by it', async () => {
    const outcome = await runner.satisfyDirectly('yahoo-or-pw', { password: pw('alice'), totp: undefined }, '192.0.2.1', undefined, 'password_grant');
    assert.equal(outcome.kind, 'complete');
    assert.deepEqual(outcome.kind === 'complete' && outcome.result.login.amr, ['pwd']);
  });

  it('password,totp: complete with acr multi-step and amr pwd otp mfa; without a code, missing_input before the password is checked', async () => {
    const missing = await runner.satisfyDirectly('pw-totp', { password: pw('alice', 'wrong'), totp: undefined }, '192.0.2.1', undefined, 'password_grant');
    assert.equal(missing.kind === 'refused' && missing.code, 'missing_input');
    const outcome = await runner.satisfyDirectly('pw-totp', { password: pw('alice'), totp: { code: await totpCode(alice.totpSecret) } }, '192.0.2.1', undefined, 'password_grant');
    assert.equal(outcome.kind, 'complete');
    if (outcome.kind !== 'complete') return;
    assert.equal(outcome.result.login.acr, 'urn:stepgate:acr:multi-step');
    assert.deepEqual([...outcome.result.login.amr].sort(), ['mfa', 'otp', 'pwd']);
    assert.equal(outcome.result.login.accountId, alice.id);
  });

  it('a user without TOTP cannot pass a TOTP step', async () => {
    const outcome = await runner.satisfyDirectly('pw-totp', { password: pw('nototp'), totp: { code: '123456' } }, '192.0.2.1', undefined, 'password_grant');
    assert.equal(outcome.kind === 'refused' && outcome.code, 'step_unavailable');
  });

  it('an identity established elsewhere (SAML) stands for the first step only; later steps still apply to that subject', async () => {
    const identified = { accountId: alice.id, amr: ['fed'], by: 'saml2-bearer' };
    const needsTotp = await runner.satisfyDirectly('pw-totp', { totp: undefined }, '192.0.2.1', identified, 'saml2_bearer');
    assert.equal(needsTotp.kind === 'refused' && needsTotp.code, 'missing_input');
    const interactive = await runner.satisfyDirectly('pw-then-yahoo', { totp: undefined }, '192.0.2.1', identified, 'saml2_bearer');
    assert.equal(interactive.kind === 'refused' && interactive.code, 'interactive_chain');
    const ok = await runner.satisfyDirectly('pw-totp', { totp: { code: await totpCode(alice.totpSecret, 1) } }, '192.0.2.1', identified, 'saml2_bearer');
    assert.equal(ok.kind, 'complete');
    assert.deepEqual(ok.kind === 'complete' && [...ok.result.login.amr].sort(), ['fed', 'otp'], 'a SAML assertion is no factor category: fed + otp is not mfa');
  });
});
