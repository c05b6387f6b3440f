import type { Authenticator } from '../server/flow/contract.ts';
import type { Users } from '../server/storage/users.ts';
import type { Credentials } from '../server/storage/credentials.ts';
import type { Passwords } from '../server/security/passwords.ts';
import type { Lockout } from '../server/security/lockout.ts';
import type { Audit } from '../server/audit/index.ts';
import { createPasswordAuthenticator } from './password/index.ts';
import { createTotpAuthenticator } from './totp/index.ts';
import { createRecoveryAuthenticator } from './recovery/index.ts';
import { createPasskeyAuthenticator } from './passkey/index.ts';
import type { PasskeyCeremonies } from './passkey/ceremony.ts';
import { createEmailAuthenticator } from './email/index.ts';
import type { Mailer } from '../server/mail/index.ts';

/** Every authenticator a chain can name, built with what it needs. */
export function createAuthenticators(deps: { users: Users; credentials: Credentials; passwords: Passwords; lockout: Lockout; audit: Audit; ceremonies: PasskeyCeremonies; mail: Mailer }): Authenticator[] {
  return [createPasswordAuthenticator(deps), createTotpAuthenticator(deps), createRecoveryAuthenticator(deps), createPasskeyAuthenticator(deps), createEmailAuthenticator(deps)];
}
