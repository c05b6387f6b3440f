import type Router from '@koa/router';
import { koaBody } from 'koa-body';
import type { Context } from 'koa';
import { generateSecret } from 'otplib';
import type { Services } from '../services.ts';
import { parseChain } from '../flow/chain.ts';
import { totpSetup, confirmsSecret } from '../../authenticators/totp/enrol.ts';
import { PasskeyError } from '../../authenticators/passkey/ceremony.ts';
import { UserSessions } from '../storage/user-sessions.ts';
import { ADMIN_CLIENT_ID } from '../manage/index.ts';
import type { NotifyLogout } from '../storage/revoke-account.ts';

/** Seconds a login counts as recent enough to change how the account signs in. */
export const CHANGE_FRESHNESS = 600;

const SECOND_FACTORS = new Set(['totp', 'passkey', 'recovery']);

/** A passkey registration answer is a few kilobytes of JSON. */
const form = koaBody({ urlencoded: true, json: false, multipart: false, text: false, formLimit: '64kb' });

export type AccountHelpers = {
  /** the signed-in user and session, or undefined after answering with an error page */
  signedIn(ctx: Context): Promise<{ uid: string; accountId: string } | undefined>;
  csrfOk(ctx: Context, sessionUid: string): boolean;
  csrfFor(sessionUid: string): string;
  fail(ctx: Context, status: number, code: string, message: string): void;
  page(ctx: Context, status: number, view: string, locals: Record<string, unknown>): void;
  /** a login of the last CHANGE_FRESHNESS seconds with every factor the account has */
  recentEnough(ctx: Context, accountId: string): Promise<boolean>;
  /** back-channel logout for the sessions ended here (server/provider/backchannel-logout.ts) */
  notifyLogout: NotifyLogout;
};

const field = (ctx: Context, name: string) => {
  const v = (ctx.request.body as Record<string, unknown> | undefined)?.[name];
  return typeof v === 'string' ? v : '';
};

/**
 * The sign-in methods part of /account: password, TOTP, passkeys, recovery codes, remembered
 * devices, sessions.
 * Every change needs a CSRF token and a recent login with every factor the account has;
 * pending set-ups (a TOTP secret, a passkey challenge) travel sealed to this user, so the
 * server keeps no half-done state. Each change is audited.
 */
export function accountFactorRoutes(router: Router, services: Services, h: AccountHelpers) {
  const { users, credentials, ceremonies, passwords, audit, clients, keyring, runner } = services;
  const sessions = new UserSessions(services.db);

  /** Runs `change` for a signed-in user with a valid form and a recent enough login. */
  function guarded(handler: (ctx: Context, who: { uid: string; accountId: string }) => Promise<void>) {
    return async (ctx: Context) => {
      await form(ctx, async () => {});
      const who = await h.signedIn(ctx);
      if (!who) return;
      if (!h.csrfOk(ctx, who.uid)) return h.fail(ctx, 403, 'csrf', 'This form is out of date. Reload your account page and try again.');
      if (!(await h.recentEnough(ctx, who.accountId))) {
        return h.fail(ctx, 403, 'reauthentication_required', `Changing how you sign in needs a sign-in with every factor of your account (password and second factor) within the last ${CHANGE_FRESHNESS / 60} minutes. Sign out, sign in to an application again, then come back to this page.`);
      }
      await handler(ctx, who);
    };
  }

  const done = (ctx: Context, what: string) => {
    ctx.status = 303;
    ctx.redirect(`/account?done=${what}`);
  };

  /** Security notices the account's owner gets by mail for these changes (server/mail). */
  const MAILED: Record<string, Parameters<Services['mail']['notify']>[1]> = {
    'account.password.changed': 'password_changed', 'account.factor.enrolled': 'factor_added', 'account.factor.removed': 'factor_removed',
  };
  const note = async (ctx: Context, accountId: string, kind: string, details: Record<string, unknown> = {}) => {
    await audit.record({ kind, actor: `user:${accountId}`, subject: accountId, address: ctx.ip, details });
    const event = MAILED[kind];
    if (event) await services.mail.notify(accountId, event, { factor: String(details.authenticator ?? '') || undefined });
  };

  /** Shows a fresh set of recovery codes once (after the first second factor, or on request). */
  async function showCodes(ctx: Context, who: { uid: string; accountId: string }, firstFactor: boolean) {
    const codes = await credentials.newRecoveryCodes(who.accountId);
    await note(ctx, who.accountId, 'account.recovery_codes.generated');
    h.page(ctx, 200, 'views/account-recovery-codes', { codes, firstFactor, title: 'Recovery codes' });
  }

  /**
   * Which client's chain would lock this user out without a second factor (a step of second
   * factors only). The console's own client counts only for admins: nobody else signs in
   * there, and it always needs a second factor, so counting it for everyone would forbid
   * every user to remove a last one.
   */
  async function clientNeedingSecondFactor(accountId: string): Promise<string | undefined> {
    const admin = (await users.byId(accountId))?.roles.includes('admin') ?? false;
    for (const client of await clients.list()) {
      if (client.clientId === ADMIN_CLIENT_ID && !admin) continue;
      let steps: { options: string[] }[];
      try {
        steps = parseChain(client.chain, runner.catalog).steps;
      } catch {
        continue;
      }
      if (steps.some((s) => s.options.every((o) => SECOND_FACTORS.has(o)))) return client.settings.name ?? client.clientId;
    }
    return undefined;
  }

  router.post('/password', guarded(async (ctx, who) => {
    const user = (await users.byId(who.accountId))!;
    const next = field(ctx, 'new_password');
    if (!(await passwords.verify(user.passwordHash, field(ctx, 'old_password')))) return h.fail(ctx, 400, 'invalid_password', 'Your current password is not right.');
    if (next.length < 10 || next.length > 1024) return h.fail(ctx, 400, 'weak_password', 'Choose a new password of at least 10 characters.');
    await users.setPasswordHash(who.accountId, await passwords.hash(next));
    // Browsers remembered on the old password's say skip steps no more (issue 16).
    await services.devices.revokeAllFor(who.accountId);
    const { sessions: ended, ended: signIns } = await sessions.endOthers(who.accountId, who.uid);
    await note(ctx, who.accountId, 'account.password.changed', { sessions_ended: ended });
    await h.notifyLogout(who.accountId, signIns);
    done(ctx, 'password');
  }));

  router.post('/sessions/end', guarded(async (ctx, who) => {
    const { sessions: ended, ended: signIns } = await sessions.endOthers(who.accountId, who.uid);
    await note(ctx, who.accountId, 'account.sessions.ended', { sessions_ended: ended });
    await h.notifyLogout(who.accountId, signIns);
    done(ctx, 'sessions');
  }));

  router.post('/totp/start', guarded(async (ctx, who) => {
    const user = (await users.byId(who.accountId))!;
    const secret = generateSecret();
    h.page(ctx, 200, 'views/account-totp', { ...(await totpSetup(user.username, secret)), secret, pending: credentials.sealPending(who.accountId, secret), csrf: h.csrfFor(who.uid), replacing: await credentials.has(user.id, 'totp'), title: 'Authenticator app' });
  }));

  router.post('/totp/confirm', guarded(async (ctx, who) => {
    const secret = credentials.openPending(who.accountId, field(ctx, 'pending'));
    if (!secret) return h.fail(ctx, 400, 'expired', 'This set-up is not valid any more. Start again from your account page.');
    if (!(await confirmsSecret(secret, field(ctx, 'code')))) {
      const user = (await users.byId(who.accountId))!;
      return h.page(ctx, 400, 'views/account-totp', {
        ...(await totpSetup(user.username, secret)), secret, pending: field(ctx, 'pending'), csrf: h.csrfFor(who.uid), replacing: await credentials.has(user.id, 'totp'), title: 'Authenticator app',
        error: { code: 'invalid_code', message: 'That code is not right. Enter the 6-digit code the app shows now.' },
      });
    }
    const first = !(await credentials.hasSecondFactor(who.accountId));
    await credentials.setTotp(who.accountId, secret);
    await users.setEnrolmentRequired(who.accountId, false);
    await note(ctx, who.accountId, 'account.factor.enrolled', { authenticator: 'totp' });
    if (first) return showCodes(ctx, who, true);
    done(ctx, 'totp');
  }));

  router.post('/passkeys/start', guarded(async (ctx, who) => {
    const user = (await users.byId(who.accountId))!;
    const options = await ceremonies.registrationOptions(user);
    h.page(ctx, 200, 'views/account-passkey', {
      options: JSON.stringify(options), challenge: keyring.encrypt(options.challenge, `passkey-challenge:${who.uid}`), csrf: h.csrfFor(who.uid), title: 'Add a passkey',
    });
  }));

  router.post('/passkeys/finish', guarded(async (ctx, who) => {
    let challenge: string;
    try {
      challenge = keyring.decrypt(field(ctx, 'challenge'), `passkey-challenge:${who.uid}`);
    } catch {
      return h.fail(ctx, 400, 'expired', 'This passkey request is not valid any more. Start again from your account page.');
    }
    const first = !(await credentials.hasSecondFactor(who.accountId));
    try {
      await ceremonies.register(who.accountId, field(ctx, 'response'), challenge, field(ctx, 'label'));
    } catch (err) {
      if (!(err instanceof PasskeyError)) throw err;
      return h.fail(ctx, 400, 'passkey_refused', err.message);
    }
    await users.setEnrolmentRequired(who.accountId, false);
    await note(ctx, who.accountId, 'account.factor.enrolled', { authenticator: 'passkey' });
    if (first) return showCodes(ctx, who, true);
    done(ctx, 'passkey');
  }));

  router.post('/factors/:id/rename', guarded(async (ctx, who) => {
    const label = field(ctx, 'label').trim().slice(0, 100);
    if (!label) return h.fail(ctx, 400, 'missing_label', 'Give it a name.');
    if (!(await credentials.rename(who.accountId, ctx.params.id!, label))) return h.fail(ctx, 404, 'not_found', 'That sign-in method is not on your account.');
    await note(ctx, who.accountId, 'account.factor.renamed', { id: ctx.params.id });
    done(ctx, 'renamed');
  }));

  router.post('/factors/:id/remove', guarded(async (ctx, who) => {
    const mine = await credentials.list(who.accountId);
    const target = mine.find((c) => c.id === ctx.params.id);
    if (!target) return h.fail(ctx, 404, 'not_found', 'That sign-in method is not on your account.');
    if (mine.length === 1) {
      const needs = await clientNeedingSecondFactor(who.accountId);
      if (needs) return h.fail(ctx, 409, 'last_second_factor', `This is your last second factor, and "${needs}" needs one to sign in: you would be locked out. Add another (an authenticator app or a passkey) first, then remove this one.`);
    }
    const gone = await credentials.removeSecondFactor(who.accountId, target.id);
    if (!gone) return h.fail(ctx, 404, 'not_found', 'That sign-in method is not on your account.');
    await note(ctx, who.accountId, 'account.factor.removed', { authenticator: target.type, id: target.id, recovery_codes_removed: gone.recoveryCodesRemoved });
    // The last second factor took the recovery codes with it: the page says so.
    done(ctx, gone.recoveryCodesRemoved > 0 ? 'removed_with_codes' : 'removed');
  }));

  // Remembered browsers skip a step on their own say (see the chain's `remember`): the user
  // forgets one that is lost or not theirs, or all of them.
  router.post('/devices/:id/forget', guarded(async (ctx, who) => {
    const device = (await services.devices.list(who.accountId)).find((d) => d.id === ctx.params.id);
    if (!device || !(await services.devices.revoke(who.accountId, device.id))) return h.fail(ctx, 404, 'not_found', 'That device is not remembered for your account.');
    await note(ctx, who.accountId, 'account.device.forgotten', { id: device.id, device: device.label });
    done(ctx, 'device_forgotten');
  }));

  router.post('/devices/forget-all', guarded(async (ctx, who) => {
    const forgotten = await services.devices.revokeAllFor(who.accountId);
    await note(ctx, who.accountId, 'account.devices.forgotten', { count: forgotten });
    done(ctx, 'devices_forgotten');
  }));

  router.post('/recovery/regenerate', guarded(async (ctx, who) => {
    if (!(await credentials.hasSecondFactor(who.accountId))) return h.fail(ctx, 409, 'no_second_factor', 'Recovery codes stand in for a second factor: set up an authenticator app or a passkey first.');
    await showCodes(ctx, who, false);
  }));

  /** What the account page shows of sign-in methods. */
  return async function overview(accountId: string, sessionUid: string) {
    return {
      factors: await credentials.list(accountId),
      recoveryLeft: await credentials.recoveryLeft(accountId),
      devices: await services.devices.list(accountId),
      sessions: await sessions.list(accountId, sessionUid),
      activity: (await audit.list({ subject: accountId, limit: 10 })).filter((e) => e.kind.startsWith('auth.') || e.kind.startsWith('account.')),
    };
  };
}
