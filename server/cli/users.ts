import qrcode from 'qrcode-terminal';
import { generate } from 'otplib';
import { parse } from '../manage/schemas.ts';
import type { FactorsView, UserView } from '../manage/users.ts';
import { UsageError, type Cli, type Command } from './command.ts';

function line(u: UserView): string {
  return `${u.username}\t${u.email ?? '-'}\t${u.totp_enrolled ? 'totp' : 'no-totp'}\t${u.roles.join(',') || '-'}${u.disabled ? '\tdisabled' : ''}${u.locked_until ? '\tlocked' : ''}${u.enrolment_required ? '\tmust-enrol' : ''}`;
}

/** One factor a line: id, type, label, added, last used (never a secret). */
function factorLines(f: FactorsView): string {
  const rows = f.factors.map((x) => `${x.id}\t${x.type}\t${x.label}\tadded ${x.created}\tlast used ${x.last_used ?? 'never'}`);
  return `${rows.join('\n') || '(no second factor)'}\nrecovery codes left: ${f.recovery_codes_left}`;
}

/** Prints a TOTP secret once: the otpauth URI, a QR code for an authenticator app, and the secret. */
/** `user totp` and its older name `totp enroll`: a new secret, shown once. */
async function resetTotp(cli: Cli, [u]: string[]): Promise<void> {
  const { user, totp } = await cli.manage.users.resetTotp(u!, cli.by);
  showTotp(cli, user.username, totp, totp);
}

function showTotp(cli: Cli, username: string, totp: { secret: string; uri: string }, data: unknown): void {
  if (cli.json) return cli.print('', data);
  cli.io.out(`TOTP enrolled for ${username}. Scan this with an authenticator app:\n`);
  qrcode.generate(totp.uri, { small: true }, (qr: string) => cli.io.out(qr));
  cli.io.out(`${totp.uri}\nsecret: ${totp.secret}`);
}

const email = { type: 'string', help: 'email address ("" clears it)', value: 'address' } as const;

export const userCommands: Command[] = [
  {
    name: 'user list', summary: 'list users',
    options: {
      search: { type: 'string', help: 'part of the username or email', value: 'text' },
      role: { type: 'string', help: 'only users with this role', value: 'role' },
      disabled: { type: 'boolean', help: 'only disabled users (--no-disabled: only enabled ones)' },
    },
    async run(cli, _args, v) {
      const users = await cli.manage.users.list(parse(cli.manage.schemas.userQuery, {
        search: v.search, role: v.role, ...(v.disabled !== undefined && { disabled: String(v.disabled) }),
      }));
      cli.print(users.map(line).join('\n') || '(no users)', users);
    },
  },
  {
    name: 'user show', args: '<username>', summary: 'one user',
    async run(cli, [u]) {
      const user = await cli.manage.users.get(u!);
      const factors = await cli.manage.users.factors(user.id);
      cli.print(`${line(user)}\nid ${user.id}; password: ${user.has_password ? 'set' : 'none'}${user.locked_until ? `; locked until ${new Date(user.locked_until * 1000).toISOString()}` : ''}\n${factorLines(factors)}`, { ...user, ...factors });
    },
  },
  {
    name: 'user add', args: '<username>', summary: 'create a user (without --password-stdin: no password, e.g. for accounts that sign in upstream)',
    options: {
      'password-stdin': { type: 'boolean', help: 'read the password from standard input (never pass one as an argument)' },
      email,
      role: { type: 'string', multiple: true, help: 'a role, e.g. admin', value: 'role' },
      totp: { type: 'boolean', help: 'enrol TOTP now: the secret is shown once' },
    },
    async run(cli, [username], v) {
      const password = v['password-stdin'] ? await cli.readStdin('the password') : undefined;
      const input = parse(cli.manage.schemas.userCreate, { username, password, email: v.email || undefined, roles: v.role ?? [], totp: v.totp === true });
      const { user, totp } = await cli.manage.users.create(input, cli.by);
      if (totp) return showTotp(cli, user.username, totp, { ...user, totp });
      cli.print(`user ${user.username} created (id ${user.id})`, user);
    },
  },
  {
    name: 'user update', args: '<username>', summary: 'change email or roles (taking away "admin" ends its sessions and tokens)',
    options: {
      email,
      'email-verified': { type: 'boolean', help: 'vouch that the address is the owner\'s (no link is mailed)' },
      'email-unverified': { type: 'boolean', help: 'the owner must confirm the address again' },
      role: { type: 'string', multiple: true, help: 'the roles it has afterwards (replaces them)', value: 'role' },
      'no-roles': { type: 'boolean', help: 'take away every role' },
    },
    async run(cli, [u], v) {
      if (v.role && v['no-roles']) throw new UsageError('choose one of --role and --no-roles');
      if (v['email-verified'] && v['email-unverified']) throw new UsageError('choose one of --email-verified and --email-unverified');
      const input = {
        ...(v.email !== undefined && { email: v.email === '' ? null : v.email }), ...(v.role && { roles: v.role }), ...(v['no-roles'] && { roles: [] }),
        ...(v['email-verified'] && { email_verified: true }), ...(v['email-unverified'] && { email_verified: false }),
      };
      if (Object.keys(input).length === 0) throw new UsageError('user update: nothing to change (--email, --email-verified, --email-unverified, --role or --no-roles)');
      const user = await cli.manage.users.update(u!, parse(cli.manage.schemas.userUpdate, input), cli.by);
      cli.print(line(user), user);
    },
  },
  ...(['disable', 'enable'] as const).map((verb): Command => ({
    name: `user ${verb}`, args: '<username>',
    summary: verb === 'disable' ? 'refuse its logins; its sessions, grants and tokens end at once' : 'allow its logins again',
    async run(cli, [u]) {
      const user = await cli.manage.users.setDisabled(u!, verb === 'disable', cli.by);
      cli.print(`user ${user.username} ${verb}d`, user);
    },
  })),
  {
    name: 'user sign-out', args: '<username>', summary: 'end its sessions, grants and tokens everywhere (applications get back-channel logout tokens); it may sign in again',
    async run(cli, [u]) {
      const user = await cli.manage.users.signOut(u!, cli.by);
      cli.print(`user ${user.username} signed out everywhere`, user);
    },
  },
  {
    name: 'user delete', args: '<username>', summary: 'delete the account, its linked identities, sessions and tokens',
    async run(cli, [u]) {
      await cli.manage.users.remove(u!, cli.by);
      cli.print(`user ${u} deleted`, { username: u, deleted: true });
    },
  },
  {
    name: 'user password', args: '<username>', summary: 'set a new password (generated and shown once without --password-stdin); its sessions and tokens end',
    options: { 'password-stdin': { type: 'boolean', help: 'read the new password from standard input' } },
    async run(cli, [u], v) {
      const chosen = v['password-stdin'] ? await cli.readStdin('the password') : undefined;
      const { user, password } = await cli.manage.users.resetPassword(u!, parse(cli.manage.schemas.passwordReset, { password: chosen }).password, cli.by);
      cli.print(`password of ${user.username} replaced${password ? `; new password (shown once): ${password}` : ''}`, { user, ...(password && { password }) });
    },
  },
  {
    name: 'user totp', args: '<username>', summary: 'new TOTP secret (the old one stops working): prints the otpauth URI and a QR code',
    run: resetTotp,
  },
  {
    name: 'recovery generate', args: '<username>', summary: '10 new single-use recovery codes for a helpdesk hand-over (the old set stops working)',
    async run(cli, [u]) {
      const { codes } = await cli.manage.users.generateRecoveryCodes(u!, cli.by);
      cli.print(codes.join('\n'), { codes });
    },
  },
  {
    name: 'user factors', args: '<username>', summary: 'the user\'s second factors (id, type, label, added, last used; never a secret) and recovery codes left',
    async run(cli, [u]) {
      const factors = await cli.manage.users.factors(u!);
      cli.print(factorLines(factors), factors);
    },
  },
  {
    name: 'user factor-remove', args: '<username> <factor-id>', summary: 'remove a TOTP or passkey (ids from user factors); with the last one the recovery codes go too; the user is told by mail',
    async run(cli, [u, id]) {
      const { removed, recovery_codes_removed: codes, ...rest } = await cli.manage.users.removeFactor(u!, id!, cli.by);
      cli.print(`${removed.type} "${removed.label}" removed from ${u}${codes ? `; it was the last second factor, so its ${codes} recovery codes were removed too` : ''}`, { ...rest, removed, recovery_codes_removed: codes });
    },
  },
  {
    name: 'user require-enrolment', args: '<username>', summary: 'the user must set up a second factor at the next login (--no-required withdraws it)',
    options: { required: { type: 'boolean', help: 'default; --no-required withdraws the requirement' } },
    async run(cli, [u], v) {
      const user = await cli.manage.users.requireEnrolment(u!, parse(cli.manage.schemas.enrolmentRequirement, { required: v.required }).required, cli.by);
      cli.print(user.enrolment_required ? `${user.username} must set up a second factor at the next login` : `${user.username} no longer has to set up a second factor`, user);
    },
  },
  {
    name: 'user unlock', args: '<username>', summary: 'clear brute-force lockouts of an account',
    async run(cli, [u]) {
      const user = await cli.manage.users.unlock(u!, cli.by);
      cli.print(`user ${user.username} unlocked`, { ...user, unlocked: true });
    },
  },
  {
    name: 'user identities', args: '<username>', summary: 'external identities linked to the user',
    async run(cli, [u]) {
      const identities = await cli.manage.users.identities(u!);
      cli.print(identities.map((i) => `${i.idp}\t${i.subject}\t${i.issuer}\t${i.created}`).join('\n') || '(no linked identities)', identities);
    },
  },
  {
    name: 'user link', args: '<username> <idp> <subject>', summary: 'link an external identity (the IdP\'s "sub") to a user',
    async run(cli, [u, idp, subject]) {
      const { identity, created } = await cli.manage.users.link(u!, parse(cli.manage.schemas.identityLink, { idp, subject }), cli.by);
      cli.print(`${identity.idp} identity ${identity.subject} ${created ? 'linked to' : 'was already linked to'} ${u}`, { username: u, ...identity, linked: true });
    },
  },
  {
    name: 'user unlink', args: '<username> <idp> [<subject>]', summary: 'unlink one identity, or all of that provider',
    async run(cli, [u, idp, subject]) {
      const gone = await cli.manage.users.unlink(u!, idp!, subject, cli.by);
      cli.print(`${gone.length} ${idp} identit${gone.length === 1 ? 'y' : 'ies'} unlinked from ${u}`, { username: u, unlinked: gone });
    },
  },
  {
    name: 'totp enroll', args: '<username>', summary: 'the same as user totp',
    run: resetTotp,
  },
  {
    name: 'totp code', args: '<username>', summary: 'development only: the current code (for the demo)',
    async run(cli, [u]) {
      if (cli.s.config.production) throw new UsageError('totp code is a development aid and is disabled in production');
      const user = await cli.s.users.byUsername(u!);
      const enrolled = user && (await cli.s.credentials.totp(user.id));
      if (!enrolled) throw new UsageError(`user "${u}" has no TOTP enrolled`);
      const code = await generate({ secret: enrolled.secret });
      cli.print(code, { code });
    },
  },
];
