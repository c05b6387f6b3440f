import type { Transaction } from 'sequelize';
import { generateSecret, generateURI } from 'otplib';
import type { Services } from '../services.ts';
import type { User } from '../storage/users.ts';
import { normaliseUsername } from '../storage/users.ts';
import { Lockout } from '../security/lockout.ts';
import { revokeAccount } from '../storage/revoke-account.ts';
import type { LinkedIdentity } from '../federation/linked-identities.ts';
import type { UserCreate, UserUpdate, UserQuery } from './schemas.ts';
import { duplicate, invalid, notFound, type Actor } from './errors.ts';
import { newSecret } from './clients.ts';
import type { Changes } from './changes.ts';

export type UserView = {
  id: string; username: string; email: string | null; roles: string[]; disabled: boolean; totp_enrolled: boolean;
  has_password: boolean; locked_until: number | null;
};

export type IdentityView = { idp: string; issuer: string; subject: string; created: string };

type Totp = { secret: string; uri: string };

/** The role that opens the console and the admin API. */
const ADMIN_ROLE = 'admin';

/**
 * Accounts. Disabling, deleting or taking away the admin role ends what the account has
 * open at once (sessions, grants, tokens: see revokeAccount), in the same transaction.
 */
export class ManageUsers {
  readonly #s: Services;
  readonly #changes: Changes;

  constructor(s: Services, changes: Changes) {
    this.#s = s;
    this.#changes = changes;
  }

  async #view(u: User, t?: Transaction): Promise<UserView> {
    const locks = await Promise.all([
      this.#s.lockout.lockedUntil(Lockout.keys('password', u.username, '').account, t),
      this.#s.lockout.lockedUntil(Lockout.keys('otp', u.id, '').account, t),
    ]);
    const until = Math.max(0, ...locks.map((l) => Number(l ?? 0)));
    return {
      id: u.id, username: u.username, email: u.email, roles: u.roles, disabled: u.disabled, totp_enrolled: u.hasTotp,
      has_password: u.passwordHash !== null, locked_until: until > Date.now() / 1000 ? until : null,
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
    return this.#change(idOrUsername, by, 'admin.user.updated', async (user, t) => {
      await this.#s.users.update(user.id, patch, t);
      if (patch.roles && user.roles.includes(ADMIN_ROLE) && !patch.roles.includes(ADMIN_ROLE)) return revokeAccount(this.#s.db, user.id, t);
    });
  }

  /** Disabling ends the account's sessions, grants and tokens at once. */
  async setDisabled(idOrUsername: string, disabled: boolean, by: Actor): Promise<UserView> {
    return this.#change(idOrUsername, by, disabled ? 'admin.user.disabled' : 'admin.user.enabled', async (user, t) => {
      await this.#s.users.update(user.id, { disabled }, t);
      if (disabled) return revokeAccount(this.#s.db, user.id, t);
    });
  }

  /** Deletes the account, its linked identities, and everything it has open. */
  async remove(idOrUsername: string, by: Actor): Promise<void> {
    await this.#changes.run(async (t) => {
      const user = await this.#find(idOrUsername, t);
      const before = await this.#view(user, t);
      const identities = await this.#s.links.unlinkAll(user.id, t);
      const revoked = await revokeAccount(this.#s.db, user.id, t);
      await this.#s.credentials.removeAllFor(user.id, t);
      await this.#s.users.remove(user.id, t);
      await this.#changes.record(t, by, { kind: 'admin.user.deleted', subject: user.id, details: { before, revoked, identities } });
    });
  }

  async resetPassword(idOrUsername: string, password: string | undefined, by: Actor): Promise<{ user: UserView; password?: string }> {
    const chosen = password ?? newSecret().slice(0, 20);
    const passwordHash = await this.#s.passwords.hash(chosen);
    // A new password forgets the browsers the account remembered (they skipped steps on the old one's say).
    const user = await this.#change(idOrUsername, by, 'admin.user.password_reset', async (u, t) => {
      await this.#s.users.update(u.id, { passwordHash }, t);
      await this.#s.devices.revokeAllFor(u.id, t);
    });
    await this.#s.mail.notify(user.id, 'password_changed');
    return { user, ...(password === undefined && { password: chosen }) };
  }

  /** A new TOTP secret, returned once (the old one stops working). */
  async resetTotp(idOrUsername: string, by: Actor): Promise<{ user: UserView; totp: Totp }> {
    const secret = generateSecret();
    const user = await this.#change(idOrUsername, by, 'admin.user.totp_reset', (u, t) => this.#s.credentials.setTotp(u.id, secret, t));
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

function identityView(l: LinkedIdentity): IdentityView {
  return { idp: l.idpName, issuer: l.issuer, subject: l.subject, created: new Date(l.createdAt).toISOString() };
}
