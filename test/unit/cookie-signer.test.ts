import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { CookieSigner } from '../../server/security/cookie-signer.ts';

// keygrip is what Koa's cookies use by default (a dependency of koa's): cookies signed
// before stepgate had its own signer must still be accepted, and ours by it.
const Keygrip = createRequire(import.meta.url)('keygrip') as new (keys: string[]) => { sign(data: string): string; index(data: string, digest: string): number };

describe('cookie signatures (server/security/cookie-signer.ts)', () => {
  const keys = ['first-key-0123456789', 'older-kéy-with-ütf8'];
  const data = ['_interaction=abc', 'session=Zm9v; path=/', ''];

  it('signs exactly as keygrip does, newest key first', () => {
    const ours = new CookieSigner(keys);
    const theirs = new Keygrip(keys);
    for (const d of data) assert.equal(ours.sign(d), theirs.sign(d));
  });

  it('accepts a signature by any of its keys and says which, refuses anything else', () => {
    const ours = new CookieSigner(keys);
    for (const d of data) {
      assert.equal(ours.index(d, new Keygrip([keys[0]!]).sign(d)), 0);
      assert.equal(ours.index(d, new Keygrip([keys[1]!]).sign(d)), 1, 'a cookie signed under the older key');
      assert.equal(ours.index(d, new Keygrip(['another key']).sign(d)), -1);
      assert.equal(ours.verify(d, `${ours.sign(d)}x`), false);
      assert.equal(ours.verify(`${d}x`, ours.sign(d)), false);
      assert.equal(ours.index(d, undefined as unknown as string), -1);
    }
  });
});
