import type Provider from 'oidc-provider';
import type { Context, Next } from 'koa';
import type { Config } from '../config/index.ts';
import { Keyring, resolveSecretKeys } from './security/keyring.ts';
import { Passwords } from './security/passwords.ts';
import { Lockout } from './security/lockout.ts';
import { openDatabase, type Database } from './storage/database.ts';
import { Users } from './storage/users.ts';
import { Clients } from './storage/clients.ts';
import { createAdapter } from './storage/oidc-adapter.ts';
import { FlowStates } from './flow/state.ts';
import { SessionSteps } from './flow/sso.ts';
import { ChainRunner } from './flow/runner.ts';
import { loadSigningKeys } from './provider/signing-keys.ts';
import { createProvider } from './provider/index.ts';
import { createViews, type Views } from './views.ts';
import { createLogger, type Logger } from './logger.ts';
import securityHeaders from './middleware/security-headers.ts';
import { interactionRoutes } from './routes/interaction.ts';
import { basicRoutes } from './routes/basics.ts';
import { demoRoutes } from './routes/demo.ts';
import { createAuthenticators } from '../authenticators/index.ts';
import { FlowEvents } from './observability/events.ts';
import { createMetrics } from './observability/metrics.ts';
import { requestLog, requestLogger } from './observability/request-log.ts';

/** Everything a running broker (or the CLI) works with. */
export type Services = {
  config: Config;
  keyring: Keyring;
  db: Database;
  users: Users;
  clients: Clients;
  passwords: Passwords;
  lockout: Lockout;
  runner: ChainRunner;
  logger: Logger;
  /** login and lockout events (metrics listen) */
  events: FlowEvents;
};

export type Stepgate = Services & { app: Provider; close(): Promise<void> };

/** Storage and domain services, without HTTP: what the CLI needs. */
export async function openServices(config: Config): Promise<Services> {
  const keyring = new Keyring(resolveSecretKeys(config));
  const db = await openDatabase(config.databaseUrl);
  const users = new Users(db, keyring);
  const clients = new Clients(db, keyring);
  const passwords = new Passwords(config.argon2);
  const events = new FlowEvents();
  const lockout = new Lockout(db, config.lockout, events);
  const runner = new ChainRunner({
    authenticators: createAuthenticators({ users, passwords, lockout }),
    states: new FlowStates(db),
    sso: new SessionSteps(db),
    chainOf: async (clientId) => (await clients.get(clientId))?.chain,
    interactionTtl: config.ttl.interaction,
    ssoFreshness: config.ssoFreshness,
    basePath: '',
    events,
  });
  return { config, keyring, db, users, clients, passwords, lockout, runner, logger: createLogger(config.logLevel), events };
}

/** Unexpected errors in our routes: logged with their cause, shown as a plain page, never a stack. */
function errorBoundary(views: Views, logger: Logger) {
  return async (ctx: Context, next: Next) => {
    try {
      await next();
    } catch (err) {
      const e = err as { status?: number; expose?: boolean; message?: string };
      const status = e.status && e.status >= 400 && e.status < 500 ? e.status : 500;
      if (status >= 500) requestLogger(ctx, logger).error({ err, path: ctx.path, method: ctx.method }, 'request failed');
      ctx.status = status;
      const message = status < 500 && e.expose ? e.message ?? 'Bad request' : 'Something went wrong on our side. Try again in a moment.';
      if (ctx.accepts('html', 'json') === 'json') ctx.body = { error: status < 500 ? 'invalid_request' : 'server_error', error_description: message };
      else {
        ctx.type = 'html';
        ctx.body = views.render('views/error', { title: 'Something went wrong', message, code: status < 500 ? 'bad_request' : 'server_error' });
      }
    }
  };
}

/**
 * The composition root: services, the oidc-provider instance (which is the Koa app),
 * and our middleware and routes mounted in front of the protocol routes.
 */
export async function createStepgate(config: Config): Promise<Stepgate> {
  const services = await openServices(config);
  const { keyring, db, users, clients, runner, logger, events } = services;
  const views = createViews(config.production);
  const provider = createProvider({
    config, keyring, users, runner, views,
    adapter: createAdapter(db, keyring, clients),
    jwks: await loadSigningKeys(db, keyring),
  });
  provider.on('server_error', (ctx: Context, err: Error) => requestLogger(ctx, logger).error({ err }, 'oidc-provider server error'));
  const metrics = createMetrics(provider, events);

  const routes = [basicRoutes(db), interactionRoutes(provider, runner, views, keyring.derive('stepgate csrf')[0]!)];
  if (config.demo) routes.push(demoRoutes(views, config.issuer));

  provider.use(requestLog(logger));
  provider.use(metrics.middleware);
  provider.use(securityHeaders);
  provider.use(errorBoundary(views, logger));
  for (const r of routes) {
    provider.use(r.routes());
    provider.use(r.allowedMethods());
  }

  return {
    ...services,
    app: provider,
    async close() {
      await db.close();
    },
  };
}
