import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { extname } from 'node:path';

/**
 * The static files of the pages (stylesheet, favicon, small same-origin scripts), all in
 * `assets/` and all served by one route, `/assets/<name>`. Pages link them through
 * `assetUrl(name)`, which appends the content's hash: a changed file gets a new URL, so
 * browsers may cache every asset for a year. Read once at start-up.
 */

const dir = new URL('../assets/', import.meta.url);

const TYPES: Record<string, string> = {
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

export type Asset = { body: Buffer; type: string; hash: string };

const assets = new Map<string, Asset>(
  readdirSync(dir)
    .filter((name) => TYPES[extname(name)])
    .map((name) => {
      const body = readFileSync(new URL(name, dir));
      return [name, { body, type: TYPES[extname(name)]!, hash: createHash('sha256').update(body).digest('base64url').slice(0, 12) }];
    }),
);

export function asset(name: string): Asset | undefined {
  return assets.get(name);
}

/** `/assets/<name>?v=<hash>`; throws for a name that is not in assets/ (a typo in a view). */
export function assetUrl(name: string): string {
  const found = assets.get(name);
  if (!found) throw new Error(`no asset named ${name} in assets/`);
  return `/assets/${name}?v=${found.hash}`;
}
