import type Provider from 'oidc-provider';
import type { Services } from '../services.ts';
import type { Views } from '../views.ts';
import { AdminActions } from './actions.ts';
import { AdminSessions } from './sessions.ts';
import { adminSchemas, type AdminSchemas } from './schemas.ts';

/** What the admin API, the console and its login share. */
export type AdminContext = Pick<Services, 'users' | 'clients' | 'audit' | 'runner' | 'logger' | 'lockout'> & {
  provider: Provider;
  views: Views;
  issuer: string;
  sessions: AdminSessions;
  actions: AdminActions;
  schemas: AdminSchemas;
  authenticatorList(): { id: string; label: string; requires_user: boolean }[];
};

export function createAdminContext(s: Services, provider: Provider, views: Views): AdminContext {
  const { config, runner } = s;
  return {
    users: s.users, clients: s.clients, audit: s.audit, runner, logger: s.logger, lockout: s.lockout,
    provider, views, issuer: config.issuer,
    sessions: new AdminSessions(s.db, config.admin.sessionTtl, config.issuer.startsWith('https://')),
    actions: new AdminActions({ db: s.db, keyring: s.keyring, passwords: s.passwords, audit: s.audit, runner, issuer: config.issuer,
      idps: s.idps, links: s.links, redirectUri: (name) => s.upstream.redirectUri(name), mail: s.mail }),
    schemas: adminSchemas(runner.catalog),
    authenticatorList: () => runner.authenticatorIds().map((id) => ({ id, label: runner.label(id), requires_user: runner.catalog.requiresUser(id) })),
  };
}
