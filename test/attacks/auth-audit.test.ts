import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { startStepgate, type TestServer } from '../support/server.ts';
import { Browser } from '../support/browser.ts';
import { addClient, addUser, beginLogin, relyingParty, RP_CALLBACK, PASSWORD } from '../support/fixtures.ts';
import { eventually } from '../support/admin.ts';
import { tokenRequest } from '../token-api/support.ts';
import { CERT_FILE, IDP_ISSUER, assertionXml, encode, fields, sign, KEYS } from '../token-api/saml-assertions.ts';
import { SAML2_BEARER_GRANT } from '../../server/grants/saml2-bearer.ts';
import type { StoredAuditEvent } from '../../server/audit/index.ts';

/** The value of one Prometheus sample whose labels include `labels`. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && wanted.every((w) => l.slice(name.length + 1, l.lastIndexOf('}')).split(',').includes(w)));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/**
 * Every authentication event is audited and counted the same way whatever the door —
 * login pages, password grant, SAML2 bearer grant — with the subject as resolved, never
 * the string that was typed.
 */
describe('attacks: every door audited the same way', function () {
  this.timeout(60_000);
  let server: TestServer;
  let alice: Awaited<ReturnType<typeof addUser>>;
  const TYPO = 'a password typed into the username field';

  before(async () => {
    server = await startStepgate();
    alice = await addUser(server, 'alice', { totp: false });
    await addClient(server, 'pw-app', 'password', { grants: ['password'] });
    await addClient(server, 'webapp', 'password');
    await server.stepgate.samlIdps.add({ name: 'corp', issuer: IDP_ISSUER, certificate: readFileSync(CERT_FILE, 'utf8') });
    await server.stepgate.clients.create({
      clientId: 'sp', secret: 'sp-secret-0123456789', redirectUris: [], chain: 'password', grantTypes: [SAML2_BEARER_GRANT], settings: { samlIdps: ['corp'] },
    });
  });
  after(async () => server.stop());

  const stepEvents = (door: string) => eventually(
    async () => (await server.stepgate.audit.list({ kind: 'auth.step.' })).filter((e) => e.details.door === door),
    (events: StoredAuditEvent[]) => events.length >= 2,
  );

  it('password grant: a failure and a success are audited and counted with the account and the door', async () => {
    assert.equal((await tokenRequest(server, 'pw-app', { grant_type: 'password', username: 'Alice', password: 'wrong' })).status, 400);
    assert.equal((await tokenRequest(server, 'pw-app', { grant_type: 'password', username: 'alice', password: PASSWORD })).status, 200);
    const events = await stepEvents('password_grant');
    const failed = events.find((e) => e.kind === 'auth.step.failed');
    const passed = events.find((e) => e.kind === 'auth.step.passed');
    assert.equal(failed?.subject, alice.id, 'the failure names the account it was against');
    assert.equal(failed?.details.reason, 'invalid_credentials');
    assert.equal(passed?.subject, alice.id);
    assert.equal(failed?.clientId, 'pw-app');
    const metrics = await (await fetch(`${server.issuer}/metrics`)).text();
    assert.equal(sample(metrics, 'stepgate_login_steps_total', { client: 'pw-app', door: 'password_grant', outcome: 'failure', reason: 'invalid_credentials' }), 1);
    assert.equal(sample(metrics, 'stepgate_login_steps_total', { client: 'pw-app', door: 'password_grant', outcome: 'success' }), 1);
  });

  it('SAML2 bearer grant: the assertion is audited as the identifying step, a replay as a failure', async () => {
    const assertion = encode(sign(assertionXml(fields(server.issuer)), KEYS.idp));
    const exchange = () => tokenRequest(server, 'sp', { grant_type: SAML2_BEARER_GRANT, assertion }, { secret: 'sp-secret-0123456789' });
    assert.equal((await exchange()).status, 200);
    assert.equal((await exchange()).status, 400);
    const events = await stepEvents('saml2_bearer');
    assert.ok(events.some((e) => e.kind === 'auth.step.passed' && e.subject === alice.id && e.details.authenticator === 'saml2-bearer'));
    assert.ok(events.some((e) => e.kind === 'auth.step.failed' && e.details.reason === 'replayed'));
  });

  it('a password typed into the username field reaches neither the lockout counters nor the audit log', async () => {
    const browser = new Browser(RP_CALLBACK);
    const form = await browser.go((await beginLogin(await relyingParty(server, { clientId: 'webapp', secret: 'webapp-secret-0123456789' }))).url.href);
    assert.match((await browser.submit(form, { username: TYPO, password: 'x' })).$('.error').text(), /do not match/);
    assert.equal((await tokenRequest(server, 'pw-app', { grant_type: 'password', username: TYPO, password: 'x' })).status, 400);
    const events = await eventually(
      async () => (await server.stepgate.audit.list({ kind: 'auth.step.failed' })).filter((e) => String(e.subject).startsWith('unknown:')),
      (found: StoredAuditEvent[]) => found.length >= 2,
    );
    assert.equal(events.length, 2, 'both doors audited the failure');
    assert.equal(events[0]!.subject, events[1]!.subject, 'the same keyed hash at both doors');
    const keys = await server.stepgate.db.select<{ key: string }>('SELECT key FROM login_failures', {});
    const audit = await server.stepgate.db.select<Record<string, unknown>>('SELECT * FROM audit_events', {});
    for (const stored of [JSON.stringify(keys), JSON.stringify(audit)]) assert.ok(!stored.toLowerCase().includes(TYPO), 'the typed string is stored nowhere');
    assert.ok(keys.some((k) => k.key === `password:account:${events[0]!.subject}`), 'it is still counted, under its hash');
  });
});
