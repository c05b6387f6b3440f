/**
 * What the login pages show of an application, and the rules its branding must meet
 * (shared by the management service, which validates, and the pages, which show).
 */
import type { ClientSettings } from './storage/clients.ts';

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

function isUrl(value: string, protocols: string[]): boolean {
  try {
    return protocols.includes(new URL(value).protocol);
  } catch {
    return false;
  }
}

/** Why a logo URL cannot be used, or undefined: https only (mixed content is blocked, and the CSP allows no other). */
export function logoProblem(url: string): string | undefined {
  return isUrl(url, ['https:']) ? undefined : 'must be an https:// URL';
}

/**
 * The branding a login page shows, from the client's settings (validated when an admin set
 * them, server/manage/client-fields.ts); a value that would not pass today is left out.
 */
export function brandingOf(clientId: string, settings: ClientSettings): ClientBranding {
  const link = (value: string | undefined) => (value && isUrl(value, ['https:', 'http:']) ? value : undefined);
  const logoUrl = settings.logoUri && !logoProblem(settings.logoUri) ? settings.logoUri : undefined;
  const colour = settings.brandColor && !brandColourProblem(settings.brandColor) ? settings.brandColor.toLowerCase() : undefined;
  const privacyUrl = link(settings.policyUri);
  const termsUrl = link(settings.tosUri);
  const homeUrl = link(settings.clientUri);
  return {
    name: settings.name || clientId,
    ...(logoUrl ? { logoUrl } : {}),
    ...(privacyUrl ? { privacyUrl } : {}),
    ...(termsUrl ? { termsUrl } : {}),
    ...(homeUrl ? { homeUrl } : {}),
    ...(colour ? { stylesheet: `/assets/brand/${colour.slice(1)}.css` } : {}),
  };
}

