import Router from '@koa/router';
import type { Clients, ClientSettings } from '../storage/clients.ts';

/** What the login pages show of an application (from its settings, set by an admin). */
export type ClientBranding = {
  name: string;
  logoUrl?: string;
  privacyUrl?: string;
  termsUrl?: string;
  /** the application's home page: where "Back to <name>" on an error page leads */
  homeUrl?: string;
  /** a stylesheet with the brand colour, when there is one */
  stylesheet?: string;
};

/** Brand colours are six-digit hex; the console refuses others (server/manage). */
const HEX = /^#[0-9a-fA-F]{6}$/;

/** WCAG relative luminance of a #rrggbb colour. */
function luminance(hex: string): number {
  const [r, g, b] = [1, 3, 5].map((i) => {
    const c = parseInt(hex.slice(i, i + 2), 16) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r! + 0.7152 * g! + 0.0722 * b!;
}

/** WCAG contrast ratio of two #rrggbb colours (1 to 21). */
export function contrast(a: string, b: string): number {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi! + 0.05) / (lo! + 0.05);
}

/**
 * Why a brand colour cannot be used, or undefined when it can: six-digit hex, and a contrast
 * of at least 4.5:1 against the white card (WCAG 2.2 AA for its links and button text).
 */
export function brandColourProblem(colour: string): string | undefined {
  if (!HEX.test(colour)) return 'must be a colour like #1a5fb4 (six hex digits)';
  if (contrast(colour, '#ffffff') < 4.5) return `is too light: its contrast with white is ${contrast(colour, '#ffffff').toFixed(2)}:1, WCAG AA needs 4.5:1`;
  return undefined;
}

type BrandingSettings = NonNullable<ClientSettings['branding']>;

function isUrl(value: string, protocols: string[]): boolean {
  try {
    return protocols.includes(new URL(value).protocol);
  } catch {
    return false;
  }
}

/**
 * What is wrong with a client's branding, field by field (empty when nothing is): the
 * management service refuses such a change with these messages. The logo must be https
 * (the page is, in production, and mixed content is blocked); the links may be http(s).
 */
export function brandingProblems(b: BrandingSettings): Record<string, string> {
  const problems: Record<string, string> = {};
  if (b.logoUrl && !isUrl(b.logoUrl, ['https:'])) problems.logoUrl = 'must be an https:// URL';
  for (const key of ['privacyUrl', 'termsUrl', 'homeUrl'] as const) {
    if (b[key] && !isUrl(b[key], ['https:', 'http:'])) problems[key] = 'must be an http(s):// URL';
  }
  if (b.color) {
    const problem = brandColourProblem(b.color);
    if (problem) problems.color = problem;
  }
  return problems;
}

/** The branding a login page shows: whatever of the stored settings is valid (a bad value is left out). */
export function brandingOf(clientId: string, settings: ClientSettings): ClientBranding {
  const b = settings.branding ?? {};
  const problems = brandingProblems(b);
  const ok = (key: keyof BrandingSettings) => (b[key] && !problems[key] ? b[key] : undefined);
  const colour = ok('color')?.toLowerCase();
  return {
    name: settings.name || clientId,
    ...(ok('logoUrl') ? { logoUrl: ok('logoUrl') } : {}),
    ...(ok('privacyUrl') ? { privacyUrl: ok('privacyUrl') } : {}),
    ...(ok('termsUrl') ? { termsUrl: ok('termsUrl') } : {}),
    ...(ok('homeUrl') ? { homeUrl: ok('homeUrl') } : {}),
    ...(colour ? { stylesheet: `/assets/brand/${colour.slice(1)}.css` } : {}),
  };
}

/**
 * A brand colour as a stylesheet (the CSP allows no inline styles): the accent in the light
 * scheme; the dark scheme keeps its own light accent, which any brand colour dark enough for
 * white would fail against a dark card. Named by the colour, so it can be cached for a year.
 */
export function brandingRoutes() {
  const router = new Router();
  router.get('/assets/brand/:hex.css', (ctx) => {
    const colour = `#${ctx.params.hex}`;
    if (brandColourProblem(colour) !== undefined) return;
    ctx.type = 'text/css; charset=utf-8';
    ctx.set('Cache-Control', 'public, max-age=31536000, immutable');
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.body = `@media (prefers-color-scheme: light) { :root { --accent: ${colour.toLowerCase()}; --focus: ${colour.toLowerCase()}; --accent-fg: #fff; } }\n`;
  });
  return router;
}

/** The branding of a registered client, for its login pages. */
export function brandingLookup(clients: Clients) {
  return async (clientId: string): Promise<ClientBranding | undefined> => {
    const record = await clients.get(clientId);
    return record ? brandingOf(clientId, record.settings) : undefined;
  };
}
