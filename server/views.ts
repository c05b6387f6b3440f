import { fileURLToPath } from 'node:url';
import { Eta } from 'eta';

/** Project root: views are named from here ("views/consent", "authenticators/totp/views/form"). */
const root = fileURLToPath(new URL('..', import.meta.url));

/** Server-rendered pages; every `<%= %>` is HTML-escaped. Templates are cached in production. */
export function createViews(production: boolean) {
  const eta = new Eta({ views: root, autoEscape: true, cache: production, defaultExtension: '.eta' });
  return {
    render(view: string, locals: Record<string, unknown>): string {
      return eta.render(`/${view}`, locals);
    },
  };
}

export type Views = ReturnType<typeof createViews>;
