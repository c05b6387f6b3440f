import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { getCACertificates, setDefaultCACertificates } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { freePort, startStepgate, type TestServer } from '../support/server.ts';
import { Browser } from '../support/browser.ts';
import { addUser, PASSWORD } from '../support/fixtures.ts';
import { readmeSnippet } from '../support/readme.ts';
import { startTlsFront, tlsFrontMissing, type TlsFront } from '../support/tls-front.ts';

const PYTHON = '/usr/bin/python3';
const pythonMissing = !existsSync(PYTHON) ? `${PYTHON} is not installed`
  : spawnSync(PYTHON, ['-c', 'import authlib, requests']).status !== 0 ? 'python3-authlib or python3-requests is not installed' : undefined;
/** where the openid-client snippet is written: inside the repository, so that `openid-client` resolves */
const ARTIFACTS = fileURLToPath(new URL('../artifacts/', import.meta.url));
/** the application's address: nothing listens there; the browser stops at redirects to it */
const APP = 'https://127.0.0.1:9';

/**
 * The "Connecting applications" snippets of README.md run exactly as printed (only the
 * addresses and the client secret are replaced; test/support/readme.ts) against a real
 * stepgate behind TLS (a self-signed certificate the snippets' HTTP stacks are told to
 * trust through their usual settings: NODE_EXTRA_CA_CERTS, REQUESTS_CA_BUNDLE). Each prints
 * the sign-in address and reads back the address the browser returned to; a browser
 * without JavaScript signs in between. The mod_auth_openidc snippet runs in
 * mod-auth-openidc.test.ts, which needs Chromium.
 */
describe('peers: the README\'s relying-party snippets, as printed', function () {
  this.timeout(60_000);
  let server: TestServer;
  let front: TlsFront;
  let issuer: string;
  let previousCAs: string[];
  let n = 0;

  before(async function () {
    const missing = tlsFrontMissing();
    if (missing) {
      console.log(`    skipped: ${missing}`);
      this.skip();
    }
    const [port, frontPort] = [await freePort(), await freePort()];
    issuer = `https://127.0.0.1:${frontPort}`;
    server = await startStepgate({ port, overrides: { issuer, trustedProxies: '1' } });
    front = await startTlsFront(port, frontPort);
    // this process's own browser trusts the proxy's certificate too
    previousCAs = getCACertificates('default');
    setDefaultCACertificates([...previousCAs, front.cert]);
    await server.stepgate.clients.create({
      clientId: 'web', secret: 'web-secret-0123456789', redirectUris: [`${APP}/callback`], chain: 'password',
      grantTypes: ['authorization_code', 'refresh_token'], settings: { name: 'Web', postLogoutRedirectUris: [`${APP}/bye`] },
    });
  });
  after(async () => {
    if (previousCAs) setDefaultCACertificates(previousCAs);
    await front?.close();
    await server?.stop();
  });

  const fill = () => ({ 'https://login.example.com': issuer, 'https://app.example.com': APP, '<secret>': 'web-secret-0123456789' });

  /** Signs a new user in at `url` (password, consent) and returns the address the browser was sent back to. */
  async function signIn(browser: Browser, url: string) {
    const user = await addUser(server, `reader${++n}`, { totp: false });
    let page = await browser.go(url);
    for (let guard = 0; guard < 5 && !page.location?.startsWith(`${APP}/callback`); guard++) {
      if (page.$('input[name=password]').length) page = await browser.submit(page, { username: user.username, password: PASSWORD });
      else if (page.$('button[value=allow]').length) page = await browser.submit(page, {}, /consent/, { name: 'decision', value: 'allow' });
      else throw new Error(`unexpected page (${page.status}): ${page.$('h1, .message').text()}`);
    }
    assert.ok(page.location?.startsWith(`${APP}/callback?code=`), `back at the application: ${page.location}`);
    return { user, callback: page.location };
  }

  /**
   * Runs a snippet program: waits for "Sign in at <url>", signs in, writes the address the
   * browser came back to; returns the program's output once it exited with 0.
   */
  async function run(command: string, args: string[], env: Record<string, string>, browser: Browser) {
    const child = spawn(command, args, { env: { PATH: process.env.PATH!, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => {
          stdout += d.toString();
          const asked = /Sign in at (\S+)\n/.exec(stdout);
          if (asked) resolve(asked[1]!);
        });
        void exited.then(() => reject(new Error(`the snippet ended before asking to sign in:\n${stdout}\n${stderr}`)));
      });
      const { user, callback } = await signIn(browser, url);
      child.stdin.end(`${callback}\n`);
      assert.equal(await exited, 0, `the snippet failed:\n${stdout}\n${stderr}`);
      return { user, stdout };
    } finally {
      child.kill();
    }
  }

  it('openid-client (Node): discovery, code + PKCE, tokens; its sign-out address ends the session', async function () {
    const code = readmeSnippet('openid-client', fill());
    mkdirSync(ARTIFACTS, { recursive: true });
    const file = `${ARTIFACTS}readme-openid-client.mts`;
    writeFileSync(file, code);
    const browser = new Browser(APP);
    const { user, stdout } = await run(process.execPath, [file], { NODE_EXTRA_CA_CERTS: front.caFile }, browser);
    assert.match(stdout, new RegExp(`signed in: ${user.id}\n`));
    const logout = /sign out at: (\S+)/.exec(stdout)?.[1];
    assert.ok(logout?.startsWith(`${issuer}/logout?`), stdout);
    const confirm = await browser.go(logout!);
    const done = await browser.submit(confirm, {}, /logout/, { name: 'logout', value: 'yes' });
    assert.equal(done.location, `${APP}/bye`, 'back at the registered post-logout address');
  });

  it('Python authlib: discovery, code + PKCE, id_token validated with authlib\'s jose against /jwks', async function () {
    if (pythonMissing) {
      console.log(`    skipped: ${pythonMissing} (apt-get install python3-authlib python3-requests)`);
      this.skip();
    }
    const code = readmeSnippet('authlib', fill());
    const { user, stdout } = await run(PYTHON, ['-c', code], { REQUESTS_CA_BUNDLE: front.caFile, PYTHONUNBUFFERED: '1' }, new Browser(APP));
    assert.match(stdout, new RegExp(`signed in: ${user.id}\n`));
  });
});
