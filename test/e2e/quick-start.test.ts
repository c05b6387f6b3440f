import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generate } from 'otplib';
import { freePort, testDatabaseUrl, dropDatabase } from '../support/server.ts';
import { spawnServer } from '../support/process.ts';
import { Browser } from '../support/browser.ts';

/** The README's quick start, as a new user follows it: first start, the printed demo data, a login, curl. */
describe('README quick start', function () {
  this.timeout(60_000);

  it('a new database prints demo data; password + TOTP in the browser; the callback page\'s curl redeems the code', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stepgate-quick-'));
    const port = await freePort();
    const databaseUrl = await testDatabaseUrl(dir);
    // Like `npm start`: no key configured (development generates one), demo data on.
    const server = await spawnServer({ PORT: String(port), DATABASE_URL: databaseUrl, STEPGATE_DATA_DIR: dir, STEPGATE_DEMO: '1', STEPGATE_SECRET_KEYS: '', ISSUER: '' });
    try {
      const banner = server.output();
      const password = /user\s+demo \/ (\S+)/.exec(banner)?.[1];
      const totp = /TOTP\s+secret (\S+)/.exec(banner)?.[1];
      const clientSecret = /client\s+demo-app \/ (\S+)/.exec(banner)?.[1];
      const signIn = /sign in\s+(\S+)/.exec(banner)?.[1];
      assert.ok(password && totp && clientSecret && signIn, banner);
      assert.ok(signIn.startsWith(`http://localhost:${port}/authorize?`));

      const browser = new Browser(`http://localhost:${port}/demo/callback`);
      let page = await browser.go(signIn);
      page = await browser.submit(page, { username: 'demo', password });
      page = await browser.submit(page, { code: await generate({ secret: totp }) });
      page = await browser.submit(page, {}, /consent/, { name: 'decision', value: 'allow' });
      assert.ok(page.location?.startsWith(`http://localhost:${port}/demo/callback?code=`));
      const callback = await browser.request(page.location!);
      const command = callback.$('pre.cmd').text();
      assert.match(command, /^curl /);
      const out = execFileSync('sh', ['-c', command], { env: { ...process.env, DEMO_SECRET: clientSecret } }).toString();
      const tokens = JSON.parse(out) as { access_token: string; refresh_token: string; id_token: string };
      assert.ok(tokens.access_token && tokens.refresh_token && tokens.id_token, out);
      const claims = JSON.parse(Buffer.from(tokens.id_token.split('.')[1]!, 'base64url').toString()) as { amr: string[] };
      assert.deepEqual([...claims.amr].sort(), ['mfa', 'otp', 'pwd']);

      // A second start on the same database creates nothing new and prints no demo data.
      server.child.kill('SIGTERM');
      await server.exited;
      const again = await spawnServer({ PORT: String(port), DATABASE_URL: databaseUrl, STEPGATE_DATA_DIR: dir, STEPGATE_DEMO: '1', STEPGATE_SECRET_KEYS: '', ISSUER: '' });
      assert.doesNotMatch(again.output(), /DEMO DATA/);
      again.child.kill('SIGTERM');
      await again.exited;
    } finally {
      server.child.kill('SIGTERM');
      await dropDatabase(databaseUrl);
    }
  });
});
