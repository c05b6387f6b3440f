import type { KnownDevice } from '../security/known-devices.ts';

/**
 * The authenticator contract (DESIGN.md section 3). Authenticators return values; the
 * chain runner decides what happens next. Nothing here knows about HTTP.
 */

/**
 * A failure shown to the user; `code` is for logs and tests (and selects the translation,
 * `errors.<code>` in locales/), `message` is the English text for people, `params` the
 * values a translation interpolates (e.g. `count` minutes).
 */
export type StepError = { code: string; message: string; params?: Record<string, string | number> };

export type StepResult =
  | { kind: 'success'; accountId: string; amr: string[]; upstream?: UpstreamLogin }
  | { kind: 'challenge'; view: string; locals?: Record<string, unknown> }
  | { kind: 'redirect'; location: URL }
  | {
    kind: 'failure'; error: StepError; view?: string; locals?: Record<string, unknown>;
    /** whom the attempt was against, as resolved (a user id, or an unknown name's keyed hash): for the audit log */
    attempted?: string;
  };

/** What a federated step learned from the upstream provider, kept with the satisfied step. */
export type UpstreamLogin = {
  idp: string; issuer: string; subject: string; acr?: string; amr?: string[];
  /** the upstream's amr (mapped to RFC 8176 names), present only when an admin trusts this provider's amr */
  trustedAmr?: string[];
};

export type StepContext = {
  /** parsed form fields (resume) or callback query parameters */
  input: Record<string, string>;
  /** the subject fixed by an earlier step, if any */
  accountId: string | undefined;
  /** this step's private, server-side state (nonce, PKCE verifier); mutate to keep */
  state: Record<string, unknown>;
  /**
   * `action`: where this step's form posts, bound to the interaction. `callback`: where an
   * external provider returns — one fixed path per authenticator (`/federation/<id>/callback`,
   * the redirect URI registered upstream); it finds the interaction from the browser.
   */
  urls: { action: string; callback: string };
  /** the client's network address, for brute-force counting */
  clientAddress: string;
  /** the browser's device cookie (login pages only): its failures are counted apart from the rest of the world's */
  device?: KnownDevice;
};

export interface Authenticator {
  readonly id: string;
  /** shown on the "choose a method" page */
  readonly label: string;
  /** needs a subject from an earlier step */
  readonly requiresUser: boolean;
  /** the RFC 8176 method(s) a success stands for (pwd, otp, fed): also what a step reused by single sign-on contributes */
  readonly amr: string[];
  start(step: StepContext): Promise<StepResult>;
  resume(step: StepContext): Promise<StepResult>;
  /** whether this user can use it (e.g. has enrolled TOTP); absent means always */
  configuredFor?(accountId: string): Promise<boolean>;
  /**
   * Setting it up during sign-in (server/flow/enrolment.ts): `start` shows the set-up page,
   * `finish` checks the answer, stores the credential only while the account still has no
   * second factor, and succeeds like a use of it would.
   */
  enrol?: { start(step: StepContext): Promise<StepResult>; finish(step: StepContext): Promise<StepResult> };
}
