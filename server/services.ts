import type { Config } from '../config/index.ts';
import { Keyring, resolveSecretKeys } from './security/keyring.ts';
import { Passwords } from './security/passwords.ts';
import { Lockout } from './security/lockout.ts';
import { openDatabase, type Database } from './storage/database.ts';
import { current } from './i18n/index.ts';
import { Users } from './storage/users.ts';
import { Credentials } from './storage/credentials.ts';
import { PasskeyCeremonies } from '../authenticators/passkey/ceremony.ts';
import { Clients } from './storage/clients.ts';
import { SamlIdps } from './storage/saml-idps.ts';
import { SigningKeys } from './storage/signing-keys.ts';
import { FlowStates } from './flow/state.ts';
import { SessionSteps } from './flow/sso.ts';
import { ChainRunner } from './flow/runner.ts';
import { RememberedDevices, deviceLabel } from './storage/remembered-devices.ts';
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
import { Mailer } from './mail/index.ts';

/** Everything a running broker (or the CLI) works with. */
export type Services = {
  config: Config;
  keyring: Keyring;
  db: Database;
  users: Users;
  /** second factors: TOTP, passkeys, recovery codes */
  credentials: Credentials;
  /** WebAuthn registration and sign-in, for the passkey step and the account page */
  ceremonies: PasskeyCeremonies;
  clients: Clients;
  samlIdps: SamlIdps;
  signingKeys: SigningKeys;
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
  /** the one way to fetch from other servers (server/security/outbound.ts): caps, deadline, target policy */
  outbound: Outbound;
  /** browsers users chose to remember: list/revoke for /account and admins, revokeAllFor on password change */
  devices: RememberedDevices;
  /** outgoing mail: codes, links, and `mail.notify(userId, event)` for security notices */
  mail: Mailer;
};

/** What an embedding application's own authenticators (e.g. Passport strategies) are built with. */
export type AuthenticatorDeps = { users: Users; links: LinkedIdentities; issuer: string; timeoutSeconds: number };

/** Options for embedding: extra authenticators a chain can name, next to the built-ins and stored identity providers. */
export type StepgateOptions = { authenticators?: (deps: AuthenticatorDeps) => Authenticator[] };

/** Storage and domain services, without HTTP: what the CLI needs. */
export async function openServices(config: Config, options: StepgateOptions = {}): Promise<Services> {
  const keyring = new Keyring(resolveSecretKeys(config));
  const db = await openDatabase(config.databaseUrl);
  const users = new Users(db);
  const credentials = new Credentials(db, keyring);
  const ceremonies = new PasskeyCeremonies(credentials, config.issuer, config.factors.passkeyUserVerification);
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
  // The language a person signs in with becomes the language of their mails (Mailer.speakerFor):
  // noted when the first step passes on the login pages, written only when it changed.
  events.on('login.step', (e) => {
    if (e.outcome !== 'success' || e.door !== 'browser' || e.step !== 0 || !e.accountId) return;
    users.setLocale(e.accountId, current().language).catch((err: unknown) => logger.error({ err }, 'user language not saved'));
  });
  const lockout = new Lockout(db, config.lockout, events, keyring.derive('stepgate unknown usernames')[0]!);
  const mail = new Mailer({ config, db, users, keyring, logger });
  events.on('lockout', ({ key, factor, scope, seconds }) => {
    // An account lockout is news to its owner (someone is guessing); an address lockout is not theirs.
    if (scope !== 'account') return;
    const subject = key.split(':').slice(2).join(':');
    void (factor === 'password' ? users.byUsername(subject) : users.byId(subject))
      .then((user) => user && mail.notify(user.id, 'lockout', { minutes: Math.ceil(seconds / 60) }));
  });
  events.on('device.remembered', ({ accountId, userAgent, address }) => void mail.notify(accountId, 'new_remembered_device', { device: deviceLabel(userAgent), address }));
  const idps = new IdentityProviders(db, keyring);
  const links = new LinkedIdentities(db);
  const outbound = new Outbound({ timeoutSeconds: config.federation.timeoutSeconds });
  const upstream = new UpstreamClients({
    issuer: config.issuer, outbound, timeoutSeconds: config.federation.timeoutSeconds, cacheSeconds: config.federation.discoveryCacheSeconds,
    log: (idp, err) => logger.warn({ idp, err: upstreamLogFields(err) }, 'upstream identity provider failed'),
  });
  const extra = options.authenticators?.({ users, links, issuer: config.issuer, timeoutSeconds: config.federation.timeoutSeconds }) ?? [];
  const devices = new RememberedDevices(db);
  const runner = new ChainRunner({
    authenticators: [...createAuthenticators({ users, credentials, passwords, lockout, audit, ceremonies, mail }), ...extra],
    federated: storedIdentityProviders(idps, { users, links, upstream }),
    states: new FlowStates(db),
    sso: new SessionSteps(db),
    chainOf: async (clientId) => (await clients.get(clientId))?.chain,
    rolesOf: async (accountId) => (await users.byId(accountId))?.roles ?? [],
    interactionTtl: config.ttl.interaction,
    ssoFreshness: config.ssoFreshness,
    basePath: '',
    events,
    enrolment: {
      policy: async (clientId) => (await clients.get(clientId))?.settings.enrolment ?? config.factors.enrolment,
      hasSecondFactor: (accountId) => credentials.hasSecondFactor(accountId),
      required: async (accountId) => (await users.byId(accountId))?.enrolmentRequired ?? false,
      newRecoveryCodes: (accountId) => credentials.newRecoveryCodes(accountId),
      enrolled: async ({ accountId, clientId, authenticator, address }) => {
        await users.setEnrolmentRequired(accountId, false);
        await audit.record({ kind: 'auth.factor.enrolled', subject: accountId, clientId, address, details: { authenticator, at: 'login' } });
        await mail.notify(accountId, 'factor_added', { factor: authenticator });
      },
    },
    devices,
  });
  await runner.refresh();
  return { config, keyring, db, users, credentials, ceremonies, clients, samlIdps: new SamlIdps(db), signingKeys: new SigningKeys(db, keyring), passwords, lockout, runner, logger, audit, events, idps, links, upstream, outbound, devices, mail };
}

