import assert from 'node:assert/strict';
import { startStepgate, type TestServer } from '../support/server.ts';
import { addUser } from '../support/fixtures.ts';
import { api, clientToken } from '../support/admin.ts';

const METHODS = ['get', 'post', 'put', 'patch', 'delete'] as const;

/**
 * No secret in a cacheable answer: every operation the admin API documents answers with
 * `Cache-Control: no-store` — the ones that return a generated client secret, password or
 * TOTP secret, and every other (errors included), walked from the OpenAPI document itself
 * so a new operation is covered the day it is documented.
 */
describe('attacks: no secret in a cacheable answer', function () {
  this.timeout(60_000);
  let server: TestServer;
  let token: string;
  let userId: string;

  before(async () => {
    server = await startStepgate();
    token = await clientToken(server, 'automation', { adminApi: true });
    userId = (await addUser(server, 'carol')).id;
  });
  after(async () => server.stop());

  async function call(method: string, path: string, body?: unknown) {
    const res = await fetch(`${server.issuer}/admin/api${path}`, {
      method, headers: { authorization: `Bearer ${token}`, accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    await res.arrayBuffer();
    return res;
  }

  it('every documented operation answers no-store (walked from openapi.json, on a user that does not exist)', async () => {
    const document = (await api(server, 'GET', '/openapi.json')).body as { paths: Record<string, Record<string, unknown>> };
    let walked = 0;
    for (const [template, operations] of Object.entries(document.paths)) {
      const path = template.replace(/\{[^}]+\}/g, 'no-such-thing');
      for (const method of METHODS.filter((m) => m in operations)) {
        const res = await call(method.toUpperCase(), path, method === 'get' || method === 'delete' ? undefined : {});
        assert.ok(res.status < 500, `${method} ${path}: ${res.status}`);
        assert.equal(res.headers.get('cache-control'), 'no-store', `${method.toUpperCase()} ${template} (${res.status})`);
        walked += 1;
      }
    }
    assert.ok(walked >= 15, `walked ${walked} operations`);
  });

  it('the answers that carry a generated secret are no-store', async () => {
    const created = await call('POST', '/clients', { client_id: 'fresh-app', redirect_uris: ['https://app.example/cb'], chain: 'password' });
    assert.equal(created.status, 201);
    assert.equal(created.headers.get('cache-control'), 'no-store');
    for (const action of ['password', 'totp']) {
      const res = await call('POST', `/users/${userId}/${action}`, {});
      assert.equal(res.status, 200, action);
      assert.equal(res.headers.get('cache-control'), 'no-store', action);
    }
  });

  it('the token endpoint answers no-store too (oidc-provider)', async () => {
    const res = await fetch(`${server.issuer}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials' });
    assert.equal(res.headers.get('cache-control'), 'no-store');
  });
});
