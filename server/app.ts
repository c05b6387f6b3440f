import type Provider from 'oidc-provider';
import type { Context, Next } from 'koa';
import { followSigningKeys } from './provider/signing-keys.ts';
import { providerFor, cookieOptions } from './provider/index.ts';
import { createViews, type Views } from './views.ts';
import { languageMiddleware, current } from './i18n/index.ts';
import type { Logger } from './logger.ts';
import type { Config } from '../config/index.ts';
import { openServices, type Services, type StepgateOptions } from './services.ts';
import { front } from './middleware/front.ts';
import { clientAddressSetter } from './middleware/client-address.ts';
import { parseTrustedProxies } from '../config/trusted-proxies.ts';
import { interactionRoutes } from './routes/interaction.ts';
import { basicRoutes } from './routes/basics.ts';
import { brandingRoutes, brandingLookup } from './routes/branding.ts';
import { startRoutes } from './routes/start.ts';
import { demoRoutes } from './routes/demo.ts';
import { adminRoutes } from './admin/index.ts';
import { federationRoutes } from './routes/federation.ts';
import { accountRoutes } from './routes/account.ts';
import { passkeyAssetRoutes } from './routes/passkey-assets.ts';
import { passwordResetRoutes } from './routes/password-reset.ts';
import { devMailRoutes } from './mail/dev-routes.ts';
import { registerTokenGrants } from './grants/index.ts';
import { findAccountIn } from './provider/accounts.ts';
import { logLogoutEvents } from './provider/logout.ts';
import { backchannelLogout } from './provider/backchannel-logout.ts';
import type { NotifyLogout } from './storage/revoke-account.ts';
import { createMetrics } from './observability/metrics.ts';
import { requestLines, requestLogger } from './observability/request-log.ts';

/** The running broker: its services, oidc-provider (the Koa app), and back-channel logout through it (what Manage needs). */
export type Stepgate = Services & { app: Provider; notifyLogout: NotifyLogout; close(): Promise<void> };

/**
 * Every error answer of our routes is our page (or JSON for API callers), never a bare
 * status: an unknown address, a method a route does not take (405), and unexpected
 * errors, which are logged with their cause and shown without a stack.
 */
function errorBoundary(views: Views, logger: Logger) {
  function answer(ctx: Context, status: number, code: string, message: string, page: Record<string, unknown> = {}) {
    ctx.status = status;
    if (ctx.accepts('html', 'json') === 'json') ctx.body = { error: code, error_description: message };
    else {
      ctx.type = 'html';
      ctx.body = views.render('views/error', { code, message, ...page });
    }
  }
  return async (ctx: Context, next: Next) => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body == null) {
        const { t } = current();
        answer(ctx, 404, 'not_found', t('error.notFound'), { title: t('error.notFoundTitle'), heading: t('error.notFoundHeading'), hint: t('error.notFoundHint') });
      } else if (ctx.status >= 400 && ctx.body == null) {
        answer(ctx, ctx.status, ctx.status === 405 ? 'method_not_allowed' : 'bad_request', current().t(ctx.status === 405 ? 'errors.method_not_allowed' : 'errors.bad_request'));
      }
    } catch (err) {
      const e = err as { status?: number; expose?: boolean; message?: string };
      const status = e.status && e.status >= 400 && e.status < 500 ? e.status : 500;
      if (status >= 500) requestLogger(ctx, logger).error({ err, path: ctx.path, method: ctx.method }, 'request failed');
      const code = status < 500 ? 'bad_request' : 'server_error';
      // A 4xx raised on purpose (expose) says what went wrong in its own (English) words.
      const message = status < 500 && e.expose && e.message ? e.message : current().t(`errors.${code}`);
      answer(ctx, status, status < 500 ? 'invalid_request' : 'server_error', message, { code });
    }
  };
}

/**
 * The composition root: services, the oidc-provider instance (which is the Koa app),
 * and our middleware and routes mounted in front of the protocol routes.
 */
export async function createStepgate(config: Config, options: StepgateOptions = {}): Promise<Stepgate> {
  const services = await openServices(config, options);
  // outbound: oidc-provider's own calls out (client jwks_uri, back-channel logout) go under the outbound policy too
  const { keyring, db, users, clients, samlIdps, runner, logger, events, outbound, signingKeys } = services;
  await signingKeys.ensure();
  const keysVersion = await signingKeys.version();
  const views = createViews(config.production, config.brand);
  const provider = await providerFor(services, views);
  registerTokenGrants(provider, { runner, users, samlIdps, events, findAccount: findAccountIn(users), tokenEndpoint: `${config.issuer}/token` });
  provider.on('server_error', (ctx: Context, err: Error) => requestLogger(ctx, logger).error({ err }, 'oidc-provider server error'));
  logLogoutEvents(provider, logger);
  const metrics = createMetrics(provider, events);

  const routes = [
    basicRoutes(db), brandingRoutes(), startRoutes(views), passkeyAssetRoutes(),
    interactionRoutes({
      provider, runner, views, cookies: cookieOptions(config), branding: brandingLookup(clients),
      keys: { csrf: keyring.derive('stepgate csrf')[0]!, device: keyring.derive('stepgate known devices')[0]! },
      accountName: async (id) => (await users.byId(id))?.username,
    }),
    federationRoutes(views), accountRoutes({ provider, views, services, csrfKey: keyring.derive('stepgate account csrf')[0]! }),
  ];
  routes.push(passwordResetRoutes({ provider, views, services }));
  if (config.demo) routes.push(demoRoutes(views, config.issuer));
  if (services.mail.kind === 'files') routes.push(devMailRoutes(config, views));
  routes.push(...(await adminRoutes(services, provider, views)));

  // oidc-provider's API endpoints answer JSON for programs (error descriptions in English,
  // as OAuth's are): no language to choose there, and none of our routes.
  provider.use(front({
    setClientAddress: clientAddressSetter(parseTrustedProxies(config.trustedProxies)),
    signingKeysReady: followSigningKeys(provider, signingKeys, keysVersion),
    lines: requestLines(logger, metrics),
    metrics,
    notCommitted: (ctx, err) => requestLogger(ctx, logger).error({ err, path: ctx.path }, 'the request\'s writes were not committed'),
    errorBoundary: errorBoundary(views, logger),
    chooseLanguage: languageMiddleware(config.defaultLanguage),
    routes: routes.flatMap((r) => [r.routes(), r.allowedMethods()]) as never[],
  }));

  return {
    ...services,
    app: provider,
    notifyLogout: backchannelLogout(provider),
    async close() {
      await services.mail.close();
      await outbound.close();
      await db.close();
    },
  };
}
