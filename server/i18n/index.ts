import { AsyncLocalStorage } from 'node:async_hooks';
import { readdirSync, readFileSync } from 'node:fs';
import i18next from 'i18next';
import type { Context, Next } from 'koa';

/**
 * The languages of the pages people meet (and of mails), with i18next.
 *
 * - One JSON catalogue per language in `locales/<language>.json`: adding a language is
 *   adding one file (copy en.json, translate the values). English is the reference and the
 *   fallback for any key a catalogue lacks.
 * - The language of a request is chosen once by `languageMiddleware` (Accept-Language,
 *   then the configured default) and can be narrowed by a route that knows better:
 *   `useLanguage(ui_locales)` for the interaction pages (OpenID Connect `ui_locales` wins).
 * - `translator(language)` gives a `t(key, values)` for code that is not a page (mail
 *   templates): `translator(pickLanguage({ uiLocales, acceptLanguage }))('mail.subject')`.
 * - `current()` is the request's language and `t`, read by the view renderer, so every
 *   page is rendered in the request's language without passing it through every call.
 */

const catalogueDir = new URL('../../locales/', import.meta.url);
const SOURCE = 'en';

/** Languages written right to left (their pages get dir="rtl"). */
const RTL = new Set(['ar', 'fa', 'he', 'ur', 'yi', 'ps', 'dv', 'ku']);

const resources = Object.fromEntries(
  readdirSync(catalogueDir)
    .filter((f) => /^[a-z]{2,3}(-[A-Za-z0-9]+)*\.json$/.test(f))
    .map((f) => [f.slice(0, -'.json'.length), { translation: JSON.parse(readFileSync(new URL(f, catalogueDir), 'utf8')) }]),
);

/** Every language with a catalogue, English first. */
export const languages: readonly string[] = [SOURCE, ...Object.keys(resources).filter((l) => l !== SOURCE).sort()];

const i18n = i18next.createInstance();
await i18n.init({
  resources,
  supportedLngs: [...languages],
  fallbackLng: SOURCE,
  // Views escape what they print (Eta `<%= %>`); escaping here too would show "&amp;".
  interpolation: { escapeValue: false },
  returnNull: false,
});

/** `t(key, values)`: the text of `key` with `{{name}}` replaced (`count` picks the plural form). */
export type Translate = (key: string, values?: Record<string, unknown>) => string;

const translators = new Map<string, Translate>();
/** Texts without values kept per language, at most (a key can come from outside: an error code). */
const MAX_KEPT = 5000;

/** The `t` of one language. */
export function translator(language: string): Translate {
  const lng = supported(language) ?? SOURCE;
  let translate = translators.get(lng);
  if (!translate) {
    const t = i18n.getFixedT(lng);
    // The catalogues do not change while the process runs: a text without values is looked
    // up once (a page asks for dozens; i18next's lookup was 7 % of a page's CPU).
    const kept = new Map<string, string>();
    translate = (key, values) => {
      if (values !== undefined) return t(key, values as never) as unknown as string;
      let text = kept.get(key);
      if (text === undefined) {
        text = t(key) as unknown as string;
        if (kept.size < MAX_KEPT) kept.set(key, text);
      }
      return text;
    };
    translators.set(lng, translate);
  }
  return translate;
}

/** "ltr" or "rtl", for the page's `dir` attribute. */
export function direction(language: string): 'ltr' | 'rtl' {
  return RTL.has(language.split('-')[0]!) ? 'rtl' : 'ltr';
}

/** The catalogue for a language tag ("de-AT" -> "de"), if there is one. */
function supported(tag: string): string | undefined {
  const lower = tag.trim().toLowerCase();
  if (languages.includes(lower)) return lower;
  const base = lower.split('-')[0]!;
  return languages.includes(base) ? base : undefined;
}

/** Accept-Language, best first (q-values honoured, q=0 dropped). */
function acceptLanguageTags(header: string): string[] {
  return header.split(',')
    .map((part, index) => {
      const [tag, ...params] = part.trim().split(';');
      const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
      return { tag: tag!.trim(), q: q ? Number(q.slice(2)) : 1, index };
    })
    .filter((x) => x.tag !== '' && x.tag !== '*' && Number.isFinite(x.q) && x.q > 0)
    .sort((a, b) => b.q - a.q || a.index - b.index)
    .map((x) => x.tag);
}

/**
 * The language to speak: the first of OpenID Connect's `ui_locales` (space-separated, in
 * order of preference) we have, else the best of Accept-Language we have, else `fallback`.
 */
export function pickLanguage(from: { uiLocales?: unknown; acceptLanguage?: string; fallback?: string }): string {
  const wanted = [
    ...(typeof from.uiLocales === 'string' ? from.uiLocales.split(/\s+/).filter(Boolean) : []),
    ...acceptLanguageTags(from.acceptLanguage ?? ''),
  ];
  for (const tag of wanted) {
    const found = supported(tag);
    if (found) return found;
  }
  return supported(from.fallback ?? SOURCE) ?? SOURCE;
}

type RequestLanguage = { language: string; fallback: string; acceptLanguage: string };
const store = new AsyncLocalStorage<RequestLanguage>();

/**
 * Chooses the language of each request: `ui_locales` in the query (the authorization
 * endpoint's own error pages), else Accept-Language, else `defaultLanguage`.
 */
export function languageMiddleware(defaultLanguage: string) {
  return async (ctx: Context, next: Next) => {
    const acceptLanguage = ctx.get('accept-language');
    const language = pickLanguage({ uiLocales: ctx.query.ui_locales, acceptLanguage, fallback: defaultLanguage });
    ctx.set('Content-Language', language);
    ctx.vary('Accept-Language');
    await store.run({ language, fallback: defaultLanguage, acceptLanguage }, next);
  };
}

/** A route that learnt the login's `ui_locales` (from the interaction) switches to it. */
export function useLanguage(uiLocales: unknown, ctx?: Context): void {
  const request = store.getStore();
  if (!request || typeof uiLocales !== 'string' || uiLocales === '') return;
  request.language = pickLanguage({ uiLocales, acceptLanguage: request.acceptLanguage, fallback: request.fallback });
  ctx?.set('Content-Language', request.language);
}

/** The current request's language, its direction and `t` (English outside a request). */
export function current(): { language: string; dir: 'ltr' | 'rtl'; t: Translate } {
  const language = store.getStore()?.language ?? SOURCE;
  return { language, dir: direction(language), t: translator(language) };
}
