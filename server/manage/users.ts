import type { Transaction } from 'sequelize';
import { generateSecret, generateURI } from 'otplib';
import type { User } from '../storage/users.ts';
import type { CredentialView } from '../storage/credentials.ts';
import { normaliseUsername } from '../storage/users.ts';
import { Lockout } from '../security/lockout.ts';
import { revokeAccount, type EndedSignIn } from '../storage/revoke-account.ts';
import type { LinkedIdentity } from '../federation/linked-identities.ts';
import type { UserCreate, UserUpdate, UserQuery } from './schemas.ts';
import { ManageError, duplicate, invalid, notFound, type Actor } from './errors.ts';
import { newSecret } from './clients.ts';
import type { Changes } from './changes.ts';
import type { ManageServices } from './index.ts';

export type UserView = {
  id: string; username: string; email: string | null; email_verified: boolean; roles: string[]; disabled: boolean; totp_enrolled: boolean;
  has_password: boolean; locked_until: number | null;
  /** an admin asked that the user set up a second factor at the next login (cleared once they have one) */
  enrolment_required: boolean;
};

/** A second factor as admins see it: what and when, never its secret. */
export type FactorView = { id: string; type: 'totp' | 'passkey'; label: string; created: string; last_used: string | null };

export type FactorsView = { factors: FactorView[]; recovery_codes_left: number };

export type IdentityView = { idp: string; issuer: string; subject: string; created: string };

type Totp = { secret: string; uri: string };

/** The role that opens the console and the admin API. */
const ADMIN_ROLE = 'admin';

/**
 * Accounts. Disabling, deleting, taking away the admin role or resetting the password ends
 * what the account has open at once (sessions, grants, tokens: see revokeAccount), in the
 * same transaction; once it is committed, the applications signed in through the ended
 * sessions get back-channel logout tokens (#ended).
 */
export class ManageUsers {
  readonly #s: ManageServices;
  readonly #changes: Changes;

  constructor(s: ManageServices, changes: Changes) {
    this.#s = s;
    this.#changes = changes;
  }

  async #view(u: User, t?: Transaction): Promise<UserView> {
    const locks = await Promise.all([
      this.#s.lockout.lockedUntil(Lockout.keys('password', u.username, '').account, t),
      this.#s.lockout.lockedUntil(Lockout.keys('otp', u.id, '').account, t),
    ]);
    const totpEnrolled = await this.#s.credentials.has(u.id, 'totp', t);
    const until = Math.max(0, ...locks.map((l) => Number(l ?? 0)));
    return {
      id: u.id, username: u.username, email: u.email, email_verified: u.emailVerified, roles: u.roles, disabled: u.disabled, totp_enrolled: totpEnrolled,
      has_password: u.passwordHash !== null, locked_until: until > Date.now() / 1000 ? until : null, enrolment_required: u.enrolmentRequired,
    };
  }

  /** By id, or by username (the CLI's way to name an account). */
  async #find(idOrUsername: string, t?: Transaction): Promise<User> {
    const user = (await this.#s.users.byId(idOrUsername, t)) ?? (await this.#s.users.byUsername(idOrUsername, t));
    if (!user) throw notFound('user', idOrUsername);
    return user;
  }

  async list(query: UserQuery = {}): Promise<UserView[]> {
    return Promise.all((await this.#s.users.list(query)).map((u) => this.#view(u)));
  }

  async get(idOrUsername: string): Promise<UserView> {
    return this.#view(await this.#find(idOrUsername));
  }

  async create(input: UserCreate, by: Actor): Promise<{ user: UserView; totp?: Totp }> {
    const username = normaliseUsername(input.username);
    const passwordHash = input.password === undefined ? null : await this.#s.passwords.hash(input.password);
    const secret = input.totp ? generateSecret() : undefined;
    const user = await this.#changes.run(async (t) => {
      if (await this.#s.users.byUsername(username, t)) throw duplicate('username', `user "${username}" already exists`);
      const created = await this.#s.users.create({ username, passwordHash, email: input.email ?? null, roles: input.roles }, t);
      if (secret) await this.#s.credentials.setTotp(created.id, secret, t);
      const view = await this.#view((await this.#s.users.byId(created.id, t))!, t);
      await this.#changes.record(t, by, { kind: 'admin.user.created', subject: created.id, details: { after: view } });
      return view;
    });
    return { user, ...(secret && { totp: this.#totp(username, secret) }) };
  }

  /** Email and roles; taking away the admin role ends the account's sessions and tokens. */
  async update(idOrUsername: string, patch: UserUpdate, by: Actor): Promise<UserView> {
    return this.#revoking(idOrUsername, by, 'admin.user.updated', async (user, t) => {
      const email = patch.email === undefined ? user.email : patch.email;
      if (patch.email_verified === true && email === null) throw invalid('email_verified', 'needs an email address to vouch for');
      const { email_verified: emailVerified, ...rest } = patch;
      await this.#s.users.update(user.id, { ...rest, ...(emailVerified !== undefined && { emailVerified }) }, t);
      return patch.roles !== undefined && user.roles.includes(ADMIN_ROLE) && !patch.roles.includes(ADMIN_ROLE);
    });
  }

  /** Disabling ends the account's sessions, grants and tokens at once. */
  async setDisabled(idOrUsername: string, disabled: boolean, by: Actor): Promise<UserView> {
    return this.#revoking(idOrUsername, by, disabled ? 'admin.user.disabled' : 'admin.user.enabled', async (user, t) => {
      await this.#s.users.update(user.id, { disabled }, t);
      return disabled;
    });
  }

  /**
   * Signs the account out everywhere without disabling it (a lost laptop, a leaked session):
   * its sessions, grants and tokens end, the applications get back-channel logout tokens;
   * the user may sign in again at once.
   */
  async signOut(idOrUsername: string, by: Actor): Promise<UserView> {
    return this.#revoking(idOrUsername, by, 'admin.user.signed_out', async () => true);
  }

  /** Deletes the account, its linked identities, and everything it has open. */
  async remove(idOrUsername: string, by: Actor): Promise<void> {
    const { id, ended } = await this.#changes.run(async (t) => {
      const user = await this.#find(idOrUsername, t);
      const before = await this.#view(user, t);
      const identities = await this.#s.links.unlinkAll(user.id, t);
      const { removed: revoked, ended } = await revokeAccount(this.#s.db, user.id, t);
      await this.#s.credentials.removeAllFor(user.id, t);
      await this.#s.users.remove(user.id, t);
      await this.#changes.record(t, by, { kind: 'admin.user.deleted', subject: user.id, details: { before, revoked, identities } });
      return { id: user.id, ended };
    });
    await this.#ended(id, ended);
  }

  /**
   * A new password ends the account's sessions and tokens, as a reset by the user does
   * (server/routes/password-reset.ts): whoever held the old one is signed out everywhere.
   */
  async resetPassword(idOrUsername: string, password: string | undefined, by: Actor): Promise<{ user: UserView; password?: string }> {
    const chosen = password ?? newSecret().slice(0, 20);
    const passwordHash = await this.#s.passwords.hash(chosen);
    const user = await this.#revoking(idOrUsername, by, 'admin.user.password_reset', async (u, t) => {
      await this.#s.users.update(u.id, { passwordHash }, t);
      return true;
    });
    await this.#s.mail.notify(user.id, 'password_changed');
    return { user, ...(password === undefined && { password: chosen }) };
  }

  /** A new TOTP secret, returned once (the old one stops working). */
  async resetTotp(idOrUsername: string, by: Actor): Promise<{ user: UserView; totp: Totp }> {
    const secret = generateSecret();
    const user = await this.#change(idOrUsername, by, 'admin.user.totp_reset', async (u, t) => {
      await this.#s.credentials.setTotp(u.id, secret, t);
      // A second factor is set up: a requirement to set one up at the next login is met.
      await this.#s.users.setEnrolmentRequired(u.id, false, t);
    });
    await this.#s.mail.notify(user.id, 'factor_added', { factor: 'totp_replaced' });
    return { user, totp: this.#totp(user.username, secret) };
  }

  /**
   * A new set of 10 single-use recovery codes for a helpdesk hand-over, returned once (the
   * old set stops working); only hashes are stored.
   */
  async generateRecoveryCodes(idOrUsername: string, by: Actor): Promise<{ user: UserView; codes: string[] }> {
    let codes: string[] = [];
    const user = await this.#change(idOrUsername, by, 'admin.user.recovery_codes_generated', async (u, t) => {
      codes = await this.#s.credentials.newRecoveryCodes(u.id, t);
    });
    return { user, codes };
  }

  // ---- second factors ------------------------------------------------------------------

  /** The user's TOTP and passkeys (type, label, when added and last used) and how many recovery codes are left. */
  async factors(idOrUsername: string): Promise<FactorsView> {
    const user = await this.#find(idOrUsername);
    return {
      factors: (await this.#s.credentials.list(user.id)).map(factorView),
      recovery_codes_left: await this.#s.credentials.recoveryLeft(user.id),
    };
  }

  /**
   * Removes one TOTP or passkey (a lost phone, a stolen key). Unlike the account page, this
   * is not refused for the last second factor: that is the helpdesk's way back in for a user
   * who lost it (the next login offers enrolment again). The recovery codes go with the last
   * one (see Credentials.removeSecondFactor); the user is told by mail.
   */
  async removeFactor(idOrUsername: string, factorId: string, by: Actor): Promise<{ user: UserView; removed: FactorView; recovery_codes_removed: number }> {
    const result = await this.#changes.run(async (t) => {
      const user = await this.#find(idOrUsername, t);
      // Ids are UUIDs: anything else names no factor (and never reaches the database).
      const gone = /^[A-Za-z0-9-]{1,64}$/.test(factorId) ? await this.#s.credentials.removeSecondFactor(user.id, factorId, t) : undefined;
      if (!gone) throw notFound(`second factor of ${user.username} with the id`, factorId);
      const removed = factorView(gone.removed);
      await this.#changes.record(t, by, { kind: 'admin.user.factor_removed', subject: user.id, details: { factor: removed, recovery_codes_removed: gone.recoveryCodesRemoved } });
      return { user: await this.#view(user, t), removed, recovery_codes_removed: gone.recoveryCodesRemoved };
    });
    await this.#s.mail.notify(result.user.id, 'factor_removed', { factor: `${FACTOR_NAMES[result.removed.type]} "${result.removed.label}", by an administrator` });
    return result;
  }

  /**
   * "Set up a second factor at the next login" (or, with `required: false`, never mind). The
   * login then has the user set one up once the chain is otherwise done (server/flow/runner.ts),
   * whatever the client's enrolment policy: an admin asked for it. Refused for an account that
   * has a second factor already: enrolment at login is only ever for accounts without one
   * (remove the old factor first, e.g. a lost phone).
   */
  async requireEnrolment(idOrUsername: string, required: boolean, by: Actor): Promise<UserView> {
    return this.#change(idOrUsername, by, required ? 'admin.user.enrolment_required' : 'admin.user.enrolment_not_required', async (u, t) => {
      if (required && (await this.#s.credentials.hasSecondFactor(u.id, t))) {
        throw new ManageError(409, 'has_second_factor', `${u.username} already has a second factor; remove it first (user factor-remove) to have a new one set up at the next login`);
      }
      await this.#s.users.setEnrolmentRequired(u.id, required, t);
    });
  }

  /** Clears the account's brute-force counters (password by username, TOTP by id; see Lockout). */
  async unlock(idOrUsername: string, by: Actor): Promise<UserView> {
    return this.#change(idOrUsername, by, 'admin.user.unlocked', async (u, t) => {
      await this.#s.lockout.unlock(u.username, t);
      await this.#s.lockout.unlock(u.id, t);
    });
  }

  async #change(idOrUsername: string, by: Actor, kind: string, change: (user: User, t: Transaction) => Promise<unknown>): Promise<UserView> {
    return this.#changes.run(async (t) => {
      const user = await this.#find(idOrUsername, t);
      const before = await this.#view(user, t);
      const revoked = await change(user, t);
      const after = await this.#view((await this.#s.users.byId(user.id, t))!, t);
      await this.#changes.record(t, by, { kind, subject: user.id, details: { before, after, ...(typeof revoked === 'number' && { revoked }) } });
      return after;
    });
  }

  /**
   * A change that, when `change` says so, ends everything the account has open (in its
   * transaction), then tells the applications (#ended).
   */
  async #revoking(idOrUsername: string, by: Actor, kind: string, change: (user: User, t: Transaction) => Promise<boolean>): Promise<UserView> {
    let ended: EndedSignIn[] = [];
    const view = await this.#change(idOrUsername, by, kind, async (user, t) => {
      if (!(await change(user, t))) return undefined;
      const revoked = await revokeAccount(this.#s.db, user.id, t);
      ended = revoked.ended;
      return revoked.removed;
    });
    await this.#ended(view.id, ended);
    return view;
  }

  /**
   * After the commit (a rolled-back change notifies nobody): a back-channel logout token to
   * each application signed in through an ended session. A delivery that fails is logged by
   * the sender; nothing here undoes or fails the change, which is done.
   */
  async #ended(accountId: string, ended: EndedSignIn[]): Promise<void> {
    if (ended.length === 0) return;
    await this.#s.notifyLogout(accountId, ended).catch((err: unknown) => {
      this.#s.logger.error({ err, account_id: accountId }, 'back-channel logout not sent');
    });
  }

  // ---- linked identities ---------------------------------------------------------------

  async identities(idOrUsername: string): Promise<IdentityView[]> {
    const user = await this.#find(idOrUsername);
    return (await this.#s.links.forAccount(user.id)).map(identityView);
  }

  /**
   * Links an external identity (the provider's subject at its current issuer) to a user.
   * `created` is false when it was linked to this user already (nothing changes then).
   */
  async link(idOrUsername: string, input: { idp: string; subject: string }, by: Actor): Promise<{ identity: IdentityView; created: boolean }> {
    return this.#changes.run(async (t) => {
      const user = await this.#find(idOrUsername, t);
      const idp = await this.#s.idps.get(input.idp, t);
      if (!idp) throw invalid('idp', `no identity provider "${input.idp}"`);
      const outcome = await this.#s.links.link({ idpName: idp.name, issuer: idp.issuer, subject: input.subject }, user.id, t);
      if (outcome === 'taken') throw duplicate('subject', `that ${idp.displayName} identity is already linked to another user`);
      const linked = identityView((await this.#s.links.find(idp.issuer, input.subject, t))!);
      if (outcome === 'linked') await this.#changes.record(t, by, { kind: 'admin.user.identity_linked', subject: user.id, details: { identity: linked } });
      return { identity: linked, created: outcome === 'linked' };
    });
  }

  /** Unlinks one identity, or every identity of that provider when no subject is given. */
  async unlink(idOrUsername: string, idpName: string, subject: string | undefined, by: Actor): Promise<IdentityView[]> {
    return this.#changes.run(async (t) => {
      const user = await this.#find(idOrUsername, t);
      const gone = (await this.#s.links.forAccount(user.id, t)).filter((l) => l.idpName === idpName && (subject === undefined || l.subject === subject));
      if (gone.length === 0) throw notFound(`${idpName} identity`, subject ?? `of ${user.username}`);
      await this.#s.links.unlink(user.id, idpName, subject, t);
      for (const l of gone) await this.#changes.record(t, by, { kind: 'admin.user.identity_unlinked', subject: user.id, details: { identity: identityView(l) } });
      return gone.map(identityView);
    });
  }

  #totp(username: string, secret: string): Totp {
    return { secret, uri: generateURI({ issuer: new URL(this.#s.config.issuer).host, label: username, secret }) };
  }
}

const FACTOR_NAMES = { totp: 'authenticator app (TOTP)', passkey: 'passkey' } as const;

function factorView(c: CredentialView): FactorView {
  const iso = (epoch: number) => new Date(epoch * 1000).toISOString();
  return { id: c.id, type: c.type as FactorView['type'], label: c.label, created: iso(c.createdAt), last_used: c.lastUsedAt === null ? null : iso(c.lastUsedAt) };
}

function identityView(l: LinkedIdentity): IdentityView {
  return { idp: l.idpName, issuer: l.issuer, subject: l.subject, created: new Date(l.createdAt).toISOString() };
}
