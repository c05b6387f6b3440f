import type Provider from 'oidc-provider';
import type { Services } from '../services.ts';
import type { Views } from '../views.ts';
import { Manage } from '../manage/index.ts';
import { AdminSessions } from './sessions.ts';
import { backchannelLogout } from '../provider/backchannel-logout.ts';

/** What the admin API, the console and its login share. */
export type AdminContext = Pick<Services, 'users' | 'clients' | 'audit' | 'runner' | 'logger' | 'lockout'> & {
  provider: Provider;
  views: Views;
  issuer: string;
  sessions: AdminSessions;
  manage: Manage;
  authenticatorList(): { id: string; label: string; requires_user: boolean }[];
};

export function createAdminContext(s: Services, provider: Provider, views: Views): AdminContext {
  const { config, runner } = s;
  return {
    users: s.users, clients: s.clients, audit: s.audit, runner, logger: s.logger, lockout: s.lockout,
    provider, views, issuer: config.issuer,
    sessions: new AdminSessions(s.db, config.admin.sessionTtl, config.issuer.startsWith('https://')),
    // the console's and API's revocations notify applications through the server's own provider
    manage: new Manage({ ...s, notifyLogout: backchannelLogout(provider) }),
    authenticatorList: () => runner.authenticatorIds().map((id) => ({ id, label: runner.label(id), requires_user: runner.catalog.requiresUser(id) })),
  };
}
