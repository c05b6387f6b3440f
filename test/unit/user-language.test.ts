import assert from 'node:assert/strict';
import { type Services } from '../../server/services.ts';
import { statementCount } from '../../server/storage/database.ts';
import { sharedDatabase } from '../support/seed.ts';

/**
 * The language a user signs in with is written without emptying the caches of users
 * (server/storage/users.ts, setLocale): a first login no longer makes every other login's
 * next page read its user again. Mails read the language afresh (Mailer.speakerFor).
 */
describe('user language', () => {
  let services: Services;

  before(async () => {
    ({ services } = await sharedDatabase());
  });
  after(() => services.db.close());

  it('is written once, and the cached users stay cached (this one with its new language)', async () => {
    const { users } = services;
    const a = await users.create({ username: `lang-a-${Date.now()}`, passwordHash: null });
    const b = await users.create({ username: `lang-b-${Date.now()}`, passwordHash: null });
    await users.byId(a.id);
    await users.byId(b.id);

    let before = statementCount();
    await users.setLocale(a.id, 'de');
    assert.equal(statementCount() - before, 1, 'one UPDATE');

    before = statementCount();
    assert.equal((await users.byId(a.id))?.locale, 'de', 'the cached user has its new language');
    assert.equal((await users.byId(b.id))?.username, b.username);
    assert.equal(statementCount() - before, 0, 'both users still come from the cache');

    before = statementCount();
    await users.setLocale(a.id, 'de');
    assert.equal(statementCount() - before, 0, 'the same language again writes nothing');

    assert.equal(await users.localeOf(a.id), 'de', 'as stored');
    assert.equal(await users.localeOf(b.id), null);
  });

  it('of a mail is the stored one, even when this process cached the user before another process wrote it', async () => {
    const { users, db, mail } = services;
    const user = await users.create({ username: `lang-c-${Date.now()}`, passwordHash: null });
    assert.equal((await users.byId(user.id))?.locale, null, 'cached without a language');
    // another process's write: nothing here hears of it (it keeps the caches)
    await db.change('UPDATE users SET locale = :locale WHERE id = :id', { id: user.id, locale: 'fr' }, undefined, { keepCaches: true });
    assert.equal((await users.byId(user.id))?.locale, null, 'the cache is behind');
    assert.equal((await mail.speakerFor(user, 'en')).language, 'fr');
  });
});
