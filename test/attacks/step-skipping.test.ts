import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { startStepgate, type TestServer } from '../support/server.ts';
import { Browser } from '../support/browser.ts';
import { addClient, addUser, beginLogin, relyingParty, RP_CALLBACK, PASSWORD, totpCode } from '../support/fixtures.ts';

/** Multi-step logins are bypassed by skipping steps, second tabs and other browsers. Not here. */
describe('attacks: step skipping and cross-browser posts', function () {
  this.timeout(30_000);
  let server: TestServer;
  let rp: oidc.Configuration;

  before(async () => {
    server = await startStepgate();
    rp = await relyingParty(server, await addClient(server, 'webapp', 'password,totp'));
  });
  after(async () => server.stop());

  async function afterPassword(username: string) {
    const user = await addUser(server, username);
    const login = await beginLogin(rp);
    const browser = new Browser(RP_CALLBACK);
    const form = await browser.go(login.url.href);
    const totpPage = await browser.submit(form, { username, password: PASSWORD });
    assert.equal(totpPage.$('input[name=code]').length, 1);
    return { user, login, browser, totpPage, uid: new URL(totpPage.url).pathname.split('/')[2]! };
  }

  it('jumping to the authorization resume URL after the password step issues no code', async () => {
    const { browser, uid } = await afterPassword('skip1');
    const res = await browser.go(`${server.issuer}/authorize/${uid}`);
    assert.ok(!res.location?.startsWith(RP_CALLBACK), 'no redirect to the client');
    // The pending step is still the TOTP form (or a fresh login): never a code.
    assert.ok(res.$('input[name=code]').length + res.$('input[name=password]').length + (res.status >= 400 ? 1 : 0) > 0);
  });

  it('a factor removed after the step before it: its page may still be drawn, its answer is refused, and the login then says what is wrong', async () => {
    // The page of the next step is drawn from what the password answer read (which
    // factors the user has set up); every answer reads them afresh.
    const { user, browser, uid } = await afterPassword('removed1');
    const totp = (await server.stepgate.credentials.list(user.id)).find((c) => c.type === 'totp')!;
    await server.stepgate.credentials.removeSecondFactor(user.id, totp.id);
    const shown = await browser.go(`${server.issuer}/interaction/${uid}`);
    const csrf = shown.$('input[name=_csrf]').attr('value')!;
    const answer = await browser.request(`${server.issuer}/interaction/${uid}/step/1`, { form: { _csrf: csrf, code: await totpCode(user.totpSecret) } });
    assert.equal(answer.status, 303, 'sent back to the login');
    assert.equal(new URL(answer.location!).pathname, `/interaction/${uid}`);
    // as for a user who never had TOTP: the step's factor is set up right here (or, where
    // the client's policy does not allow that, the page says the step cannot be done)
    const again = await browser.go(answer.location!);
    assert.equal(again.status, 200);
    assert.match(again.$('h1').text(), /Set up an authenticator app/);
    assert.equal(await server.stepgate.credentials.has(user.id, 'totp'), false, 'the code of the removed TOTP set nothing up');
  });

  it('posting consent while a step is pending is refused', async () => {
    const { browser, uid, totpPage } = await afterPassword('skip2');
    const csrf = totpPage.$('input[name=_csrf]').attr('value')!;
    const res = await browser.request(`${server.issuer}/interaction/${uid}/consent`, { form: { _csrf: csrf, decision: 'allow' } });
    assert.equal(res.status, 409);
    const again = await browser.go(`${server.issuer}/interaction/${uid}`);
    assert.equal(again.$('input[name=code]').length, 1, 'still waiting for the TOTP step');
  });

  it('re-posting the password step once it is satisfied does not advance or reset anything', async () => {
    const { browser, uid, totpPage } = await afterPassword('skip3');
    const csrf = totpPage.$('input[name=_csrf]').attr('value')!;
    const res = await browser.request(`${server.issuer}/interaction/${uid}/step/0`, { form: { _csrf: csrf, username: 'skip3', password: PASSWORD } });
    assert.equal(res.status, 409);
  });

  it('a TOTP code posted against another browser\'s login is refused', async () => {
    const victim = await afterPassword('victim');
    const attacker = new Browser(RP_CALLBACK);
    // The attacker starts a login of their own so they hold a valid interaction cookie too.
    await attacker.go((await beginLogin(rp)).url.href);
    const csrf = victim.totpPage.$('input[name=_csrf]').attr('value')!;
    const res = await attacker.request(`${server.issuer}/interaction/${victim.uid}/step/1`, { form: { _csrf: csrf, code: await totpCode(victim.user.totpSecret) } });
    assert.equal(res.status, 400);
    assert.match(res.$('.message').text(), /another sign-in|another browser/);
    // The victim's login is untouched and still completes.
    const done = await victim.browser.submit(victim.totpPage, { code: await totpCode(victim.user.totpSecret) });
    assert.ok(done.$('button[value=allow]').length === 1 || done.location?.startsWith(RP_CALLBACK));
  });

  it('a login URL opened in another browser is refused', async () => {
    const { uid } = await afterPassword('skip4');
    const res = await new Browser().request(`${server.issuer}/interaction/${uid}`);
    assert.equal(res.status, 400);
  });

  it('the same step answered twice in parallel advances once', async () => {
    const { browser, uid, totpPage, user } = await afterPassword('race1');
    const csrf = totpPage.$('input[name=_csrf]').attr('value')!;
    const code = await totpCode(user.totpSecret);
    const results = await Promise.all(Array.from({ length: 8 }, () =>
      browser.request(`${server.issuer}/interaction/${uid}/step/1`, { form: { _csrf: csrf, code } })));
    const advanced = results.filter((r) => r.status === 303);
    assert.equal(advanced.length, 1, `exactly one post advances (statuses: ${results.map((r) => r.status)})`);
  });
});
