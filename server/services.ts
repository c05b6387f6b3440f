import type { Config } from '../config/index.ts';
import { Keyring, resolveSecretKeys } from './security/keyring.ts';
import { Passwords } from './security/passwords.ts';
import { Lockout } from './security/lockout.ts';
import { openDatabase, type Database } from './storage/database.ts';
import { Users } from './storage/users.ts';
import { Clients } from './storage/clients.ts';
import { SamlIdps } from './storage/saml-idps.ts';
import { FlowStates } from './flow/state.ts';
import { SessionSteps } from './flow/sso.ts';
import { ChainRunner } from './flow/runner.ts';
import { RememberedDevices } from './storage/remembered-devices.ts';
import { createLogger, type Logger } from './logger.ts';
import { createAuthenticators } from '../authenticators/index.ts';
import { Audit } from './audit/index.ts';
import { FlowEvents } from './observability/events.ts';
import type { Authenticator } from './flow/contract.ts';
import { IdentityProviders } from './federation/identity-providers.ts';
import { LinkedIdentities } from './federation/linked-identities.ts';
import { UpstreamClients, upstreamLogFields } from './federation/upstream.ts';
import { Outbound } from './security/outbound.ts';
import { storedIdentityProviders } from '../authenticators/oidc/index.ts';

/** Everything a running broker (or the CLI) works with. */
export type Services = {
  config: Config;
  keyring: Keyring;
  db: Database;
  users: Users;
  clients: Clients;
  samlIdps: SamlIdps;
  passwords: Passwords;
  lockout: Lockout;
  runner: ChainRunner;
  logger: Logger;
  audit: Audit;
  /** login and lockout events: the metrics and the audit log listen */
  events: FlowEvents;
  idps: IdentityProviders;
  links: LinkedIdentities;
  upstream: UpstreamClients;
  /** browsers users chose to remember: list/revoke for /account and admins, revokeAllFor on password change */
  devices: RememberedDevices;
};

/** What an embedding application's own authenticators (e.g. Passport strategies) are built with. */
export type AuthenticatorDeps = { users: Users; links: LinkedIdentities; issuer: string; timeoutSeconds: number };

/** Options for embedding: extra authenticators a chain can name, next to the built-ins and stored identity providers. */
export type StepgateOptions = { authenticators?: (deps: AuthenticatorDeps) => Authenticator[] };

/** Storage and domain services, without HTTP: what the CLI needs. */
export async function openServices(config: Config, options: StepgateOptions = {}): Promise<Services> {
  const keyring = new Keyring(resolveSecretKeys(config));
  const db = await openDatabase(config.databaseUrl);
  const users = new Users(db, keyring);
  const clients = new Clients(db, keyring);
  const passwords = new Passwords(config.argon2);
  const logger = createLogger(config.logLevel);
  const audit = new Audit(db, (err) => logger.error({ err }, 'audit write failed'));
  const events = new FlowEvents();
  events.on('lockout', ({ key, seconds }) => audit.note({ kind: 'auth.lockout', subject: key, details: { seconds } }));
  events.on('login.step', (e) => audit.note({
    kind: `auth.step.${e.outcome === 'success' ? 'passed' : 'failed'}`, clientId: e.clientId, subject: e.accountId, address: e.address,
    details: { authenticator: e.authenticator, step: e.step + 1, door: e.door, ...(e.reason && { reason: e.reason }) },
  }));
  const lockout = new Lockout(db, config.lockout, events, keyring.derive('stepgate unknown usernames')[0]!);
  const idps = new IdentityProviders(db, keyring);
  const links = new LinkedIdentities(db);
  const upstream = new UpstreamClients({
    issuer: config.issuer, outbound: new Outbound({ timeoutSeconds: config.federation.timeoutSeconds }), timeoutSeconds: config.federation.timeoutSeconds, cacheSeconds: config.federation.discoveryCacheSeconds,
    log: (idp, err) => logger.warn({ idp, err: upstreamLogFields(err) }, 'upstream identity provider failed'),
  });
  const extra = options.authenticators?.({ users, links, issuer: config.issuer, timeoutSeconds: config.federation.timeoutSeconds }) ?? [];
  const devices = new RememberedDevices(db);
  const runner = new ChainRunner({
    authenticators: [...createAuthenticators({ users, passwords, lockout }), ...extra],
    federated: storedIdentityProviders(idps, { users, links, upstream }),
    states: new FlowStates(db),
    sso: new SessionSteps(db),
    chainOf: async (clientId) => (await clients.get(clientId))?.chain,
    rolesOf: async (accountId) => (await users.byId(accountId))?.roles ?? [],
    interactionTtl: config.ttl.interaction,
    ssoFreshness: config.ssoFreshness,
    basePath: '',
    events,
    devices,
  });
  await runner.refresh();
  return { config, keyring, db, users, clients, samlIdps: new SamlIdps(db), passwords, lockout, runner, logger, audit, events, idps, links, upstream, devices };
}

