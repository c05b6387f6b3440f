import type Provider from 'oidc-provider';
import type { Services } from '../services.ts';
import type { Views } from '../views.ts';
import { createAdminContext } from './context.ts';
import { adminApi } from './api.ts';
import { adminLogin } from './login.ts';
import { adminConsole } from './console.ts';
import { ensureAdminClient } from './bootstrap.ts';
import { auditProviderEvents } from '../audit/provider-events.ts';

/**
 * Everything under /admin: the JSON API, the console's sign-in through this broker, and
 * the console pages. Also makes sure the console's client exists and audits the
 * provider's authentication events.
 */
export async function adminRoutes(s: Services, provider: Provider, views: Views) {
  await ensureAdminClient(s);
  auditProviderEvents(provider, s.audit);
  const context = createAdminContext(s, provider, views);
  return [adminApi(context), adminLogin(context), adminConsole(context)];
}
