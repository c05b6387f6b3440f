import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import * as oidc from 'openid-client';
import { Outbound, OutboundError, MAX_METADATA_BYTES } from '../../server/security/outbound.ts';
import { startStepgate, type TestServer } from '../support/server.ts';
import { Browser } from '../support/browser.ts';
import { addClient, beginLogin, relyingParty, RP_CALLBACK } from '../support/fixtures.ts';

/** A plain HTTP server on loopback whose handler a test sets; it counts requests and reports closed connections. */
class Target {
  readonly server: Server;
  handler: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.end('{}');
  requests: string[] = [];
  constructor() {
    this.server = createServer((req, res) => {
      this.requests.push(req.url ?? '');
      this.handler(req, res);
    });
  }
  async listen(): Promise<number> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    return (this.server.address() as { port: number }).port;
  }
  close() {
    this.server.closeAllConnections();
    this.server.close();
  }
}

async function refusal(promise: Promise<unknown>): Promise<OutboundError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof OutboundError, `an OutboundError, not ${String(err)}`);
    return err;
  }
  throw new Error('the request was not refused');
}

describe('outbound requests: bounded and fenced', function () {
  this.timeout(60_000);
  const outbound = new Outbound({ timeoutSeconds: 2 });
  const target = new Target();
  let port: number;
  const get = (url: string, allowPrivateNetwork = true) => outbound.fetch({ allowPrivateNetwork })(url, { method: 'GET', headers: {} });

  before(async () => {
    port = await target.listen();
  });
  beforeEach(() => {
    target.requests = [];
    target.handler = (_req, res) => res.end('{"ok":true}');
  });
  after(async () => {
    target.close();
    await outbound.close();
  });

  it('a name resolving to 127.0.0.1 is refused at connect time unless private networks are allowed', async () => {
    const refused = await refusal(get(`http://localhost:${port}/.well-known/openid-configuration`, false));
    assert.equal(refused.code, 'private_target');
    assert.match(refused.message, /localhost resolves to 127\.0\.0\.1/);
    assert.deepEqual(target.requests, [], 'nothing reached the target');
    const allowed = await get(`http://localhost:${port}/.well-known/openid-configuration`, true);
    assert.deepEqual(await allowed.json(), { ok: true });
  });

  it('address literals are checked too: loopback, private, link-local (metadata service), unique-local', async () => {
    for (const host of ['127.0.0.1', '10.1.2.3', '192.168.0.1', '169.254.169.254', '[fe80::1]', '[fd00::1]', '[::1]', '[::ffff:127.0.0.1]']) {
      assert.equal((await refusal(get(`http://${host}:${port}/`, false))).code, 'private_target', host);
    }
    assert.deepEqual(target.requests, []);
  });

  it('credentials in a URL are refused', async () => {
    assert.equal((await refusal(get(`http://user:pass@127.0.0.1:${port}/`))).code, 'credentials_in_url');
  });

  it('redirects are not followed', async () => {
    target.handler = (_req, res) => res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' }).end();
    assert.equal((await refusal(get(`http://127.0.0.1:${port}/`))).code, 'redirect');
    assert.equal(target.requests.length, 1);
  });

  it('a 1 MB JWKS is refused, announced or not', async () => {
    const big = JSON.stringify({ keys: [{ kty: 'oct', k: 'A'.repeat(1024 * 1024) }] });
    target.handler = (_req, res) => res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(big) }).end(big);
    assert.equal((await refusal(get(`http://127.0.0.1:${port}/jwks`))).code, 'too_large');
    target.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      for (let i = 0; i < big.length; i += 64 * 1024) res.write(big.slice(i, i + 64 * 1024));
      res.end();
    };
    assert.equal((await refusal(get(`http://127.0.0.1:${port}/jwks`))).code, 'too_large');
    const keys = JSON.stringify({ keys: [{ kty: 'oct', k: 'A'.repeat(200 * 1024) }] });
    target.handler = (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(keys);
    assert.equal((await (await get(`http://127.0.0.1:${port}/jwks`)).text()).length, keys.length, 'a 200 KiB answer under the cap still passes whole');
  });

  it('a token answer is capped lower than metadata (64 KiB)', async () => {
    const body = JSON.stringify({ access_token: 'x'.repeat(100 * 1024) });
    target.handler = (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(body);
    const post = outbound.fetch({ allowPrivateNetwork: true })(`http://127.0.0.1:${port}/token`, { method: 'POST', headers: {}, body: 'grant_type=x' });
    assert.equal((await refusal(post)).code, 'too_large');
  });

  it('an endless discovery document: refused, and the upstream sees the connection closed long before it is done', async () => {
    const planned = 700 * 1024 * 1024;
    let written = 0;
    let closedEarly = false;
    target.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"issuer":"');
      const chunk = 'A'.repeat(64 * 1024);
      const pump = () => {
        while (written < planned && !res.destroyed) {
          written += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end();
      };
      res.on('close', () => { closedEarly = written < planned; });
      pump();
    };
    assert.equal((await refusal(get(`http://127.0.0.1:${port}/.well-known/openid-configuration`))).code, 'too_large');
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.ok(closedEarly, 'the connection was closed before the 700 MB were sent');
    assert.ok(written < 64 * 1024 * 1024, `the upstream wrote ${written} bytes before the close (socket buffers only)`);
  });

  it('a slow-loris upstream (a byte at a time, never finishing) is cut off at the deadline', async () => {
    let timer: NodeJS.Timeout | undefined;
    target.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      timer = setInterval(() => res.write(' '), 100);
      res.on('close', () => clearInterval(timer));
    };
    assert.equal((await refusal(get(`http://127.0.0.1:${port}/.well-known/openid-configuration`))).code, 'timeout');
    clearInterval(timer);
    assert.ok(MAX_METADATA_BYTES > 100, 'it was the deadline, not the cap');
  });
});

describe('outbound requests of the broker: stored identity providers', function () {
  this.timeout(60_000);
  let server: TestServer;
  const target = new Target();
  let port: number;
  let rp: oidc.Configuration;

  before(async () => {
    port = await target.listen();
    server = await startStepgate({ overrides: { federation: { timeoutSeconds: 3, discoveryCacheSeconds: 600 } } });
    const s = server.stepgate;
    const base = { clientId: 'c', clientSecret: 'c-secret', scopes: ['openid'], claimMapping: {}, jit: false };
    await s.idps.add({ ...base, name: 'intranet', issuer: `http://localhost:${port}`, displayName: 'Intranet' });
    await s.idps.add({ ...base, name: 'broken', issuer: `http://127.0.0.1:${port}/broken`, displayName: 'Broken', allowPrivateNetwork: true });
    rp = await relyingParty(server, await addClient(server, 'intranet-app', 'intranet'));
    await addClient(server, 'broken-app', 'broken');
  });
  after(async () => {
    await server?.stop();
    target.close();
  });

  async function visit(clientId: string) {
    const client = clientId === 'intranet-app' ? rp : await relyingParty(server, { clientId, secret: `${clientId}-secret-0123456789` });
    const browser = new Browser(RP_CALLBACK);
    return browser.go((await beginLogin(client)).url.href);
  }

  it('an issuer on the broker\'s own network is not fetched unless the admin allowed it', async () => {
    target.requests = [];
    const page = await visit('intranet-app');
    assert.equal(page.status, 400);
    assert.match(page.$('main').text() || page.html, /cannot be used from this server/);
    assert.deepEqual(target.requests, [], 'no request reached the private address');
  });

  it('a failing discovery is not fetched again on every anonymous page load (backoff)', async () => {
    target.requests = [];
    target.handler = (_req, res) => res.writeHead(500).end('down');
    for (let i = 0; i < 5; i++) {
      const page = await visit('broken-app');
      assert.equal(page.status, 400, 'a clean failure page');
    }
    assert.equal(target.requests.filter((u) => u.includes('openid-configuration')).length, 1, 'one discovery for five page loads');
  });

  it('an issuer URL with credentials is refused when stored', async () => {
    const { checkIssuer } = await import('../../server/federation/identity-providers.ts');
    assert.match(checkIssuer('https://user:pw@idp.example') ?? '', /username or password/);
  });
});
