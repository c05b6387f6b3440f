import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { languages, pickLanguage, translator, direction } from '../../server/i18n/index.ts';
import { brandColourProblem, logoProblem, brandingOf, contrast } from '../../server/branding.ts';

const root = new URL('../../', import.meta.url);
const catalogue = (lang: string) => JSON.parse(readFileSync(new URL(`locales/${lang}.json`, root), 'utf8')) as Record<string, unknown>;
function keys(o: Record<string, unknown>, prefix = ''): string[] {
  return Object.entries(o).flatMap(([k, v]) => (typeof v === 'object' && v !== null ? keys(v as Record<string, unknown>, `${prefix}${k}.`) : [`${prefix}${k}`]));
}

/** Every literal t('…') / tStrong('…') key of the templates. */
function templateKeys(): string[] {
  const files = ['views', 'views/partials', 'authenticators/password/views', 'authenticators/totp/views']
    .flatMap((dir) => readdirSync(new URL(dir, root)).filter((f) => f.endsWith('.eta')).map((f) => new URL(`${dir}/${f}`, root)));
  return files.flatMap((f) => [...readFileSync(f, 'utf8').matchAll(/it\.t(?:Strong)?\('([a-zA-Z_.]+)'/g)].map((m) => m[1]!));
}

describe('languages (i18next catalogues)', () => {
  it('every catalogue has every key of the English one, and no other', () => {
    const reference = keys(catalogue('en')).sort();
    assert.ok(languages.includes('de'));
    for (const lang of languages.filter((l) => l !== 'en')) assert.deepEqual(keys(catalogue(lang)).sort(), reference, `locales/${lang}.json`);
  });

  it('every key a template uses exists in the English catalogue', () => {
    const known = new Set(keys(catalogue('en')));
    const used = templateKeys();
    assert.ok(used.length > 40, 'the templates are translated');
    assert.deepEqual(used.filter((k) => !known.has(k)), []);
  });

  it('ui_locales first, then Accept-Language by q-value, then the default', () => {
    assert.equal(pickLanguage({ uiLocales: 'fr de', acceptLanguage: 'en', fallback: 'en' }), 'de');
    assert.equal(pickLanguage({ uiLocales: 'fr', acceptLanguage: 'fr;q=1, de-AT;q=0.8, en;q=0.5', fallback: 'en' }), 'de');
    assert.equal(pickLanguage({ acceptLanguage: 'de;q=0, en-GB', fallback: 'de' }), 'en');
    assert.equal(pickLanguage({ acceptLanguage: 'fr, ja', fallback: 'de' }), 'de');
    assert.equal(pickLanguage({ uiLocales: ['de'], acceptLanguage: '', fallback: 'en' }), 'en', 'a repeated parameter is ignored');
  });

  it('translates with plurals and interpolation, and knows the writing direction', () => {
    assert.equal(translator('de')('errors.locked', { count: 1 }), 'Zu viele Versuche. Versuchen Sie es in 1 Minute erneut.');
    assert.equal(translator('de')('errors.locked', { count: 5 }), 'Zu viele Versuche. Versuchen Sie es in 5 Minuten erneut.');
    assert.equal(translator('en')('layout.signInTo', { client: '<b>' }), 'Sign in to <b>', 'escaping is the template\'s job');
    assert.equal(direction('de'), 'ltr');
    assert.equal(direction('ar-EG'), 'rtl');
  });
});

describe('client branding', () => {
  it('brand colours: six hex digits with 4.5:1 contrast against white', () => {
    assert.equal(brandColourProblem('#8a1538'), undefined);
    assert.match(brandColourProblem('#ffcc00')!, /too light/);
    assert.match(brandColourProblem('red')!, /six hex digits/);
    assert.match(brandColourProblem('#fff')!, /six hex digits/);
    assert.ok(Math.abs(contrast('#000000', '#ffffff') - 21) < 1e-9);
  });

  it('the logo must be https; links http(s); a bad stored value is left out of the page', () => {
    assert.equal(logoProblem('http://x.example/l.png'), 'must be an https:// URL');
    assert.equal(logoProblem('https://x.example/l.png'), undefined);
    const shown = brandingOf('pay', { name: 'Payroll', logoUri: 'http://x.example/l.png', tosUri: 'javascript:alert(1)', brandColor: '#8A1538', clientUri: 'https://pay.example/' });
    assert.deepEqual(shown, { name: 'Payroll', homeUrl: 'https://pay.example/', stylesheet: '/assets/brand/8a1538.css' });
  });
});
