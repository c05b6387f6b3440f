import { fileURLToPath } from 'node:url';
import { Eta } from 'eta';
import { current } from './i18n/index.ts';
import { assetUrl } from './assets.ts';

/** Project root: views are named from here ("views/consent", "authenticators/totp/views/form"). */
const root = fileURLToPath(new URL('..', import.meta.url));

/** The broker's own name and logo (config `brand`), shown on pages of no particular client. */
export type Brand = { name: string; logoUrl: string };

/** An error shown to a person: `code` selects the translation, `message` is its English text. */
export type ShownError = { code: string; message?: string; params?: Record<string, unknown> };

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => ESCAPES[c]!);

/**
 * What every template gets besides its own locals: the request's language (`lang`, `dir`,
 * `t`), `asset(name)` for a file of assets/, `tError` for error messages, `tStrong` for a sentence with one emphasised value
 * ("Sign in to <strong>Payroll</strong>"), and the broker's `brand`.
 */
function helpers(brand: Brand) {
  const { language, dir, t } = current();
  return {
    lang: language,
    dir,
    t,
    brand,
    asset: assetUrl,
    /**
     * English messages are written where the error arises, with the detail known there;
     * other languages translate by the error's code (`errors.<code>` in their catalogue).
     */
    tError(error: ShownError): string {
      if (language === 'en' && error.message) return error.message;
      return t(`errors.${error.code}`, { ...error.params, defaultValue: error.message ?? t('errors.default') });
    },
    /** The translation of `key` as HTML, with `values[name]` (escaped) inside <strong>. */
    tStrong(key: string, name: string, values: Record<string, unknown>): string {
      const marker = '\u0000';
      const [before = '', after = ''] = t(key, { ...values, [name]: marker }).split(marker);
      return `${escapeHtml(before)}<strong>${escapeHtml(String(values[name] ?? ''))}</strong>${escapeHtml(after)}`;
    },
  };
}

/** Server-rendered pages; every `<%= %>` is HTML-escaped. Templates are cached in production. */
export function createViews(production: boolean, brand: Brand = { name: 'stepgate', logoUrl: '' }) {
  const eta = new Eta({ views: root, autoEscape: true, cache: production, defaultExtension: '.eta' });
  return {
    brand,
    render(view: string, locals: Record<string, unknown>): string {
      return eta.render(`/${view}`, { ...helpers(brand), ...locals });
    },
  };
}

export type Views = ReturnType<typeof createViews>;
