import assert from 'node:assert/strict';
import { startStepgate, type TestServer } from '../support/server.ts';
import { addClient, addUser } from '../support/fixtures.ts';
import { consoleLogin } from '../support/admin.ts';
import type { Browser, Page } from '../support/browser.ts';

describe('admin console: identity providers and linked identities (no JavaScript)', function () {
  this.timeout(30_000);
  let server: TestServer;
  let browser: Browser;
  const issuer = 'https://login.corp.example';

  /** The provider and link tables and the audit log: what a refused form must leave alone. */
  async function snapshot() {
    const db = server.stepgate.db;
    return {
      idps: await db.select('SELECT * FROM identity_providers ORDER BY name', {}),
      links: await db.select('SELECT * FROM linked_identities ORDER BY issuer, subject', {}),
      audit: await db.select('SELECT COUNT(*) AS n FROM audit_events', {}),
    };
  }

  const csrfOf = (page: Page) => page.$('input[name=_csrf]').first().attr('value')!;

  before(async () => {
    server = await startStepgate();
    ({ browser } = await consoleLogin(server, await addUser(server, 'boss', { roles: ['admin'] })));
  });
  after(async () => server.stop());

  it('adds a provider through the form: bad input shown by field and nothing written; the secret never shown', async () => {
    const list = await browser.request(`${server.issuer}/admin/identity-providers`);
    assert.equal(list.status, 200);
    assert.ok(list.$('nav a[href="/admin/identity-providers"]').length, 'linked from the navigation');
    assert.match(list.html, /No identity providers yet/);

    const form = await browser.request(`${server.issuer}/admin/identity-providers/new`);
    const before = await snapshot();
    const noCsrf = await browser.request(`${server.issuer}/admin/identity-providers/new`, { form: { name: 'corp', issuer, client_id: 'c', client_secret: 's' } });
    assert.equal(noCsrf.status, 403);
    const bad = await browser.submit(form, { name: 'corp', issuer: 'http://corp.example', client_id: 'stepgate', client_secret: 'typed-secret', scopes: 'profile' }, /new$/);
    assert.equal(bad.status, 400);
    const issues = bad.$('.error li').text();
    assert.match(issues, /issuer.*must be https/s);
    assert.match(issues, /scopes.*must include "openid"/s);
    assert.equal(bad.$('input[name=name]').attr('value'), 'corp', 'what was typed is kept');
    assert.ok(!bad.html.includes('typed-secret'), 'but not the secret');
    const unknownPreset = await browser.request(`${server.issuer}/admin/identity-providers/new`, { form: { _csrf: csrfOf(form), name: 'corp', preset: 'myspace', client_id: 'c', client_secret: 's' } });
    assert.equal(unknownPreset.status, 400);
    assert.match(unknownPreset.$('.error li').text(), /unknown preset "myspace"/);
    assert.deepEqual(await snapshot(), before, 'nothing written');

    // The test browser sends every checkbox; an unchecked one is sent empty here, as a browser would leave it out.
    const created = await browser.submit(form, { name: 'corp', issuer, client_id: 'stepgate', client_secret: 'upstream-secret-1', display_name: 'Corp', claim_email: 'mail', jit: '' }, /new$/);
    assert.equal(created.status, 200, created.$('.error').text());
    assert.match(created.url, /\/admin\/identity-providers\/corp\?done=idp\.saved$/);
    assert.equal(created.$('.notice').text(), 'Identity provider saved.');
    assert.equal(created.$('#redirect-uri').text(), `${server.issuer}/federation/corp/callback`);
    assert.ok(!created.html.includes('upstream-secret-1'));
    const stored = (await server.stepgate.idps.get('corp'))!;
    assert.deepEqual([stored.issuer, stored.clientSecret, stored.claimMapping, stored.jit], [issuer, 'upstream-secret-1', { email: 'mail' }, false]);

    const duplicate = await browser.submit(form, { name: 'corp', preset: 'google', issuer: '', client_id: 'x', client_secret: 'y' }, /new$/);
    assert.equal(duplicate.status, 409);
    assert.match(duplicate.$('.error').text(), /"corp" is already the name/);
  });

  it('edits a provider: an empty secret field keeps the stored secret, a typed one replaces it', async () => {
    let edit = await browser.request(`${server.issuer}/admin/identity-providers/corp/edit`);
    assert.equal(edit.$('input[name=client_secret]').attr('value'), undefined, 'the secret is not in the form');
    const saved = await browser.submit(edit, { display_name: 'Corp SSO', jit: 'on' }, /edit$/);
    assert.equal(saved.status, 200, saved.$('.error').text());
    let stored = (await server.stepgate.idps.get('corp'))!;
    assert.deepEqual([stored.displayName, stored.jit, stored.clientSecret, stored.claimMapping], ['Corp SSO', true, 'upstream-secret-1', { email: 'mail' }]);
    edit = await browser.request(`${server.issuer}/admin/identity-providers/corp/edit`);
    const refused = await browser.submit(edit, { issuer: 'not a url', client_secret: 'upstream-secret-2' }, /edit$/);
    assert.equal(refused.status, 400);
    assert.equal((await server.stepgate.idps.get('corp'))!.clientSecret, 'upstream-secret-1', 'nothing written');
    await browser.submit(edit, { client_secret: 'upstream-secret-2' }, /edit$/);
    stored = (await server.stepgate.idps.get('corp'))!;
    assert.equal(stored.clientSecret, 'upstream-secret-2');
  });

  it('offers the provider in the chain editor; refuses to delete it while a chain names it; deletes it after confirmation', async () => {
    await addClient(server, 'shop', 'password');
    let chain = await browser.request(`${server.issuer}/admin/clients/shop/chain`);
    assert.equal(chain.$('#new-option-0 option[value=corp]').text(), 'Sign in with Corp SSO (corp)');
    chain = await browser.submit(chain, { 'new-option-0': 'corp' }, /\/chain$/, { name: 'edit', value: 'add-option:0' });
    assert.equal((await server.stepgate.clients.get('shop'))!.chain, 'password|corp');

    let detail = await browser.request(`${server.issuer}/admin/identity-providers/corp`);
    assert.equal(detail.$('a[href$="/delete"]').length, 0, 'no delete button while in use');
    assert.match(detail.html, /remove it from the chains of shop/);
    const before = await snapshot();
    const inUse = await browser.request(`${server.issuer}/admin/identity-providers/corp/delete`, { form: { _csrf: csrfOf(detail), confirm: 'yes' } });
    assert.equal(inUse.status, 409);
    assert.match(inUse.$('.message').text(), /in the chain of shop/);
    const askInUse = await browser.request(`${server.issuer}/admin/identity-providers/corp/delete`);
    assert.equal(askInUse.status, 409, 'no question whose Confirm would be refused');
    assert.equal(askInUse.$('form.confirm').length, 0);
    assert.deepEqual(await snapshot(), before);

    await browser.submit(chain, {}, /\/chain$/, { name: 'edit', value: 'remove-option:0:1' });
    assert.equal((await server.stepgate.clients.get('shop'))!.chain, 'password');
    detail = await browser.request(`${server.issuer}/admin/identity-providers/corp`);
    const unconfirmed = await browser.request(`${server.issuer}/admin/identity-providers/corp/delete`, { form: { _csrf: csrfOf(detail) } });
    assert.equal(unconfirmed.status, 200, 'a post without confirm=yes only asks');
    assert.equal(unconfirmed.$('h1').text(), 'Delete identity provider corp?');
    assert.ok(await server.stepgate.idps.get('corp'));
    const question = await browser.request(`${server.issuer}${detail.$('a[href$="/delete"]').attr('href')}`);
    const deleted = await browser.submit(question, {}, /delete$/);
    assert.match(deleted.url, /\/admin\/identity-providers\?done=idp\.deleted$/);
    assert.equal(deleted.$('.notice').text(), 'Identity provider deleted.');
    assert.equal(await server.stepgate.idps.get('corp'), undefined);
    const kinds = (await server.stepgate.audit.list({ kind: 'admin.idp.' })).map((e) => e.kind);
    assert.deepEqual(kinds, ['admin.idp.deleted', 'admin.idp.updated', 'admin.idp.updated', 'admin.idp.created']);
    assert.ok(!JSON.stringify(await server.stepgate.db.select('SELECT * FROM audit_events', {})).includes('upstream-secret'), 'no secret in the audit log');
  });

  it('links and unlinks identities on the user page; a taken identity is refused', async () => {
    await server.stepgate.idps.add({ name: 'partner', issuer: 'https://partner.example', clientId: 'p', clientSecret: 'p-secret', scopes: ['openid'], displayName: 'Partner', claimMapping: {}, jit: false });
    const ann = await addUser(server, 'ann');
    const bob = await addUser(server, 'bob');
    let page = await browser.request(`${server.issuer}/admin/users/${ann.id}`);
    assert.match(page.$('#identities').text(), /None\./);
    assert.equal(page.$('#link-idp option[value=partner]').length, 1);
    page = await browser.submit(page, { idp: 'partner', subject: 'ann-at-partner' }, /identities$/);
    assert.equal(page.status, 200);
    assert.match(page.$('#identities tbody').text(), /partner.*https:\/\/partner\.example.*ann-at-partner/s);
    assert.equal((await server.stepgate.links.find('https://partner.example', 'ann-at-partner'))!.accountId, ann.id);

    const bobPage = await browser.request(`${server.issuer}/admin/users/${bob.id}`);
    const before = await snapshot();
    const taken = await browser.submit(bobPage, { idp: 'partner', subject: 'ann-at-partner' }, /identities$/);
    assert.equal(taken.status, 409);
    assert.match(taken.$('.message').text(), /already linked to another user/);
    const noCsrf = await browser.request(`${server.issuer}/admin/users/${ann.id}/identities/unlink`, { form: { idp: 'partner', subject: 'ann-at-partner' } });
    assert.equal(noCsrf.status, 403);
    assert.deepEqual(await snapshot(), before);

    const question = await browser.request(new URL(page.$('#identities a[href*="/unlink?"]').attr('href')!, page.url).href);
    assert.equal(question.$('h1').text(), 'Unlink partner identity ann-at-partner from ann?');
    page = await browser.submit(question, {}, /unlink$/);
    assert.equal(page.status, 200);
    assert.equal(page.$('.notice').text(), 'Identity unlinked.');
    assert.match(page.$('#identities').text(), /None\./);
    assert.equal(await server.stepgate.links.find('https://partner.example', 'ann-at-partner'), undefined);
    const kinds = (await server.stepgate.audit.list({ kind: 'admin.user.identity' })).map((e) => [e.kind, e.subject]);
    assert.deepEqual(kinds, [['admin.user.identity_unlinked', ann.id], ['admin.user.identity_linked', ann.id]]);
  });
});
