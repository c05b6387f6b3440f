/**
 * Enrolment during sign-in (issue 12): when a step that applies has no option this user has
 * set up, and one of its options can be set up on the spot (TOTP, passkey), the user may do
 * it right there — but only while the account has no second factor at all, so a password
 * thief cannot add his own factor to an account that already has one.
 */
export type EnrolmentPolicy = 'at-login' | 'account-only' | 'admin-only';

/** What the runner asks of the rest of the broker to offer enrolment. */
export type EnrolmentGate = {
  /** the client's `enrolment` setting, else the global default */
  policy(clientId: string): Promise<EnrolmentPolicy>;
  hasSecondFactor(accountId: string): Promise<boolean>;
  /** an admin asked that this account set up a second factor at its next login */
  required(accountId: string): Promise<boolean>;
  /** a new set of recovery codes, replacing any old one, returned once */
  newRecoveryCodes(accountId: string): Promise<string[]>;
  /** records the enrolment (audit) */
  enrolled(event: { accountId: string; clientId: string; authenticator: string; address: string }): Promise<void>;
};

/** The dead end, explained: what the user can do when the step cannot be set up here. */
export function unavailableMessage(needs: string, stepNumber: number, policy: EnrolmentPolicy | undefined, enrollable: boolean): string {
  const head = `This application needs ${needs} for step ${stepNumber}, and your account has none of them set up.`;
  if (enrollable && policy === 'account-only') return `${head} Set one up on your account page (/account) after signing in to an application that does not need it, then try again.`;
  if (enrollable && policy === 'at-login') return `${head} Your account already has another second factor, so a new one can only be added on your account page (/account).`;
  return `${head} If it is an identity provider not linked to your account yet, link it on your account page (/account); otherwise your administrator must set it up for you.`;
}
