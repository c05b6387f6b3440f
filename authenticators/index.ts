import type { Authenticator } from '../server/flow/contract.ts';
import type { Users } from '../server/storage/users.ts';
import type { Passwords } from '../server/security/passwords.ts';
import type { Lockout } from '../server/security/lockout.ts';
import { createPasswordAuthenticator } from './password/index.ts';
import { createTotpAuthenticator } from './totp/index.ts';
import { createEmailAuthenticator } from './email/index.ts';
import type { Mailer } from '../server/mail/index.ts';

/** Every authenticator a chain can name, built with what it needs. */
export function createAuthenticators(deps: { users: Users; passwords: Passwords; lockout: Lockout; mail: Mailer }): Authenticator[] {
  return [createPasswordAuthenticator(deps), createTotpAuthenticator(deps), createEmailAuthenticator(deps)];
}
