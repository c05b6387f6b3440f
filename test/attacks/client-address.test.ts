import assert from 'node:assert/strict';
import { startStepgate, type TestServer } from '../support/server.ts';
import { addClient, addUser, PASSWORD } from '../support/fixtures.ts';
import { basic } from '../token-api/support.ts';
import { Lockout } from '../../server/security/lockout.ts';
import { clientAddress } from '../../server/middleware/client-address.ts';
import { parseTrustedProxies } from '../../config/trusted-proxies.ts';
import { loadConfig, ConfigError } from '../../config/index.ts';

describe('client address behind trusted proxies', function () {
  this.timeout(60_000);

  describe('read from the right of X-Forwarded-For', () => {
    const hops = (n: number) => parseTrustedProxies(String(n));
    const ranges = parseTrustedProxies('10.0.0.0/8, fd00::/8');

    it('no proxy configured: the TCP peer, whatever the header says', () => {
      assert.equal(clientAddress('203.0.113.5', '1.2.3.4', parseTrustedProxies('')), '203.0.113.5');
      assert.equal(clientAddress('::ffff:127.0.0.1', undefined, parseTrustedProxies('')), '127.0.0.1', 'IPv4-mapped IPv6 spelled as IPv4');
    });

    it('one hop: the entry the proxy appended, never a forged one to its left', () => {
      assert.equal(clientAddress('10.0.0.2', '6.6.6.6, 198.51.100.7', hops(1)), '198.51.100.7');
      assert.equal(clientAddress('10.0.0.2', '198.51.100.7', hops(1)), '198.51.100.7');
      assert.equal(clientAddress('10.0.0.2', undefined, hops(1)), '10.0.0.2', 'no header: the proxy itself');
    });

    it('two hops skip two, and no more', () => {
      assert.equal(clientAddress('10.0.0.2', '6.6.6.6, 198.51.100.7, 10.0.0.9', hops(2)), '198.51.100.7');
    });

    it('CIDR list: skips trusted proxies from the right, stops at the first untrusted address', () => {
      assert.equal(clientAddress('10.0.0.2', '6.6.6.6, 198.51.100.7, 10.1.2.3', ranges), '198.51.100.7');
      assert.equal(clientAddress('203.0.113.9', '6.6.6.6', ranges), '203.0.113.9', 'a peer outside the list is the client; its header is ignored');
      assert.equal(clientAddress('fd00::1', '2001:db8::7', ranges), '2001:db8::7');
    });

    it('garbage from a trusted hop: the last address that can be named', () => {
      assert.equal(clientAddress('10.0.0.2', 'not-an-address', hops(1)), '10.0.0.2');
      assert.equal(clientAddress('10.0.0.2', '0x7f.1', hops(1)), '10.0.0.2', 'only the usual spellings of an address');
    });
  });

  describe('configuration', () => {
    it('STEPGATE_TRUSTED_PROXIES takes a count or a CIDR list, and a bad entry is named', () => {
      assert.equal(loadConfig({ STEPGATE_TRUSTED_PROXIES: '2' }).trustedProxies, '2');
      assert.equal(loadConfig({ STEPGATE_TRUSTED_PROXIES: '10.0.0.0/8,::1' }).trustedProxies, '10.0.0.0/8,::1');
      assert.throws(() => loadConfig({ STEPGATE_TRUSTED_PROXIES: '10.0.0.0/33' }), (err: Error) => err instanceof ConfigError && /STEPGATE_TRUSTED_PROXIES.*10\.0\.0\.0\/33/.test(err.message));
    });

    it('the older STEPGATE_TRUST_PROXY=1 means one hop; both at once is refused', () => {
      assert.equal(loadConfig({ STEPGATE_TRUST_PROXY: '1' }).trustedProxies, '1');
      assert.throws(() => loadConfig({ STEPGATE_TRUST_PROXY: '1', STEPGATE_TRUSTED_PROXIES: '1' }), /keep only STEPGATE_TRUSTED_PROXIES/);
    });
  });

  describe('behind an appending proxy (one trusted hop)', () => {
    let server: TestServer;
    const REAL = '198.51.100.7';

    before(async () => {
      server = await startStepgate({ overrides: { trustedProxies: '1', lockout: { maxFailures: 1000, maxFailuresPerAddress: 3, baseSeconds: 60, maxSeconds: 3600, windowSeconds: 900 } } });
      await addUser(server, 'alice', { totp: false });
      await addClient(server, 'pw-app', 'password', { grants: ['password'] });
    });
    after(async () => server.stop());

    /** A password grant as the proxy hands it on: whatever the client sent, then the address the proxy saw. */
    async function guess(forwardedFor: string, username: string, password: string) {
      const res = await fetch(`${server.issuer}/token`, {
        method: 'POST',
        headers: { authorization: basic('pw-app', 'pw-app-secret-0123456789'), 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': forwardedFor },
        body: new URLSearchParams({ grant_type: 'password', username, password }).toString(),
      });
      return { status: res.status, body: await res.json() as Record<string, unknown> };
    }

    it('a new forged address on every guess does not escape the address limit', async () => {
      for (let i = 0; i < 3; i++) {
        const r = await guess(`6.6.6.${i}, ${REAL}`, `victim${i}`, 'Winter2026!');
        assert.match(String(r.body.error_description), /do not match/);
      }
      const locked = await guess(`6.6.6.99, ${REAL}`, 'victim9', 'Winter2026!');
      assert.equal(locked.status, 400);
      assert.match(String(locked.body.error_description), /Too many attempts/);
      assert.notEqual(await server.stepgate.lockout.lockedUntil(Lockout.keys('password', '', REAL).address), null, 'the real address is locked');
      assert.equal(await server.stepgate.lockout.lockedUntil(Lockout.keys('password', '', '6.6.6.0').address), null, 'no forged address was counted');
    });

    it('a forged header cannot lock someone else\'s address (a company\'s NAT): its users still sign in', async () => {
      const NAT = '203.0.113.20';
      for (let i = 0; i < 4; i++) await guess(`${NAT}, 192.0.2.66`, `victim${i}`, 'Winter2026!');
      const ok = await guess(NAT, 'alice', PASSWORD);
      assert.equal(ok.status, 200, JSON.stringify(ok.body));
    });
  });
});
