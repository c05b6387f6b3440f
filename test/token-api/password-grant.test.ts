import assert from 'node:assert/strict';
import { startStepgate, type TestServer } from '../support/server.ts';
import { addClient, addUser, PASSWORD, totpCode } from '../support/fixtures.ts';
import { tokenRequest } from './support.ts';

describe('token API: password grant under the client chain', function () {
  this.timeout(30_000);
  let server: TestServer;
  let alice: Awaited<ReturnType<typeof addUser>>;

  before(async () => {
    server = await startStepgate();
    alice = await addUser(server, 'alice');
    await addClient(server, 'pw-app', 'password', { grants: ['password', 'refresh_token'] });
    await addClient(server, 'mfa-app', 'password,totp', { grants: ['password', 'refresh_token'] });
    await addClient(server, 'browser-app', 'password');
  });
  after(async () => server.stop());

  it('issues an access and a refresh token for a password chain, with amr pwd', async () => {
    const res = await tokenRequest(server, 'pw-app', { grant_type: 'password', username: 'alice', password: PASSWORD, scope: 'openid' });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(typeof res.body.access_token, 'string');
    assert.equal(typeof res.body.refresh_token, 'string');
    assert.equal(res.body.expires_in, 3600);
    const claims = JSON.parse(Buffer.from(String(res.body.id_token).split('.')[1]!, 'base64url').toString());
    assert.deepEqual(claims.amr, ['pwd']);
    assert.equal(claims.sub, alice.id);
  });

  it('is off by default: a client without the password grant is refused', async () => {
    const res = await tokenRequest(server, 'browser-app', { grant_type: 'password', username: 'alice', password: PASSWORD });
    assert.equal(res.status, 400);
    assert.equal(res.body.error, 'invalid_request');
  });

  it('password,totp needs the totp parameter, accepts a right code once', async () => {
    const missing = await tokenRequest(server, 'mfa-app', { grant_type: 'password', username: 'alice', password: PASSWORD });
    assert.equal(missing.status, 400);
    assert.match(String(missing.body.error_description), /totp/);
    const code = await totpCode(alice.totpSecret);
    const ok = await tokenRequest(server, 'mfa-app', { grant_type: 'password', username: 'alice', password: PASSWORD, totp: code, scope: 'openid' });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    const claims = JSON.parse(Buffer.from(String(ok.body.id_token).split('.')[1]!, 'base64url').toString());
    assert.deepEqual([...claims.amr].sort(), ['mfa', 'otp', 'pwd']);
    const again = await tokenRequest(server, 'mfa-app', { grant_type: 'password', username: 'alice', password: PASSWORD, totp: code });
    assert.equal(again.status, 400);
    assert.equal(again.body.error, 'invalid_grant');
  });
});

describe('token API: password grant lockout and TOTP rules', function () {
  this.timeout(30_000);
  let server: TestServer;
  let bob: Awaited<ReturnType<typeof addUser>>;

  before(async () => {
    server = await startStepgate();
    bob = await addUser(server, 'bob');
    await addUser(server, 'carol');
    await addClient(server, 'mfa-app', 'password,totp', { grants: ['password', 'refresh_token'] });
    await addClient(server, 'web', 'password');
  });
  after(async () => server.stop());

  it('a wrong TOTP code is invalid_grant, and a code from 90 s ago too', async () => {
    const current = await totpCode(bob.totpSecret);
    const wrong = String((Number(current) + 1) % 1_000_000).padStart(6, '0');
    for (const totp of [wrong, await totpCode(bob.totpSecret, -3)]) {
      const res = await tokenRequest(server, 'mfa-app', { grant_type: 'password', username: 'bob', password: PASSWORD, totp });
      assert.equal(res.status, 400);
      assert.equal(res.body.error, 'invalid_grant');
    }
  });

  it('one TOTP code sent in parallel requests is accepted once', async () => {
    const dave = await addUser(server, 'dave');
    const totp = await totpCode(dave.totpSecret);
    const results = await Promise.all([1, 2, 3].map(() =>
      tokenRequest(server, 'mfa-app', { grant_type: 'password', username: 'dave', password: PASSWORD, totp })));
    assert.equal(results.filter((r) => r.status === 200).length, 1);
    assert.ok(results.filter((r) => r.status !== 200).every((r) => r.body.error === 'invalid_grant'));
  });

  it('failures count toward the same lockout as the login form', async () => {
    for (let i = 0; i < server.config.lockout.maxFailures; i++) {
      const res = await tokenRequest(server, 'mfa-app', { grant_type: 'password', username: 'carol', password: 'wrong password', totp: '000000' });
      assert.equal(res.body.error, 'invalid_grant');
    }
    const locked = await tokenRequest(server, 'mfa-app', { grant_type: 'password', username: 'carol', password: PASSWORD, totp: '000000' });
    assert.equal(locked.status, 400);
    assert.match(String(locked.body.error_description), /Too many attempts/);

    // The login page refuses carol too: one counter for both paths.
    const { Browser } = await import('../support/browser.ts');
    const { relyingParty, beginLogin } = await import('../support/fixtures.ts');
    const rp = await relyingParty(server, { clientId: 'web', secret: 'web-secret-0123456789' });
    const browser = new Browser();
    const form = await browser.go((await beginLogin(rp)).url.href);
    const page = await browser.submit(form, { username: 'carol', password: PASSWORD });
    assert.equal(page.status, 400);
    assert.match(page.$('.error').text(), /Too many attempts/);
  });
});
