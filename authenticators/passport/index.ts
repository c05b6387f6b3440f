import type { Strategy } from 'passport';
import type { Authenticator, StepContext, StepResult } from '../../server/flow/contract.ts';
import type { LinkedIdentities } from '../../server/federation/linked-identities.ts';
import { resolveExternalIdentity, FAILED_VIEW } from '../../server/federation/resolve.ts';
import type { Users } from '../../server/storage/users.ts';


/** The request a strategy sees (not an express request: only what OAuth-style strategies read): the callback's query, and a per-step "session" for its state store. */
export type PassportRequest = {
  method: string;
  url: string;
  query: Record<string, string>;
  body: Record<string, string>;
  headers: Record<string, string>;
  session: Record<string, unknown>;
};

export type PassportStepOptions = {
  /** the name chains use, e.g. "corp-oauth" */
  id: string;
  /** shown on the choose page and in messages */
  displayName: string;
  strategy: Strategy;
  /**
   * A stable name for the provider, stored with each linked identity (a URL is best). The
   * user's identity is this plus `subject(user)`; nothing else (never an email) links.
   */
  issuer: string;
  /** the provider's id for the user the strategy's verify callback produced */
  subject(user: unknown): string | undefined;
  /** create a local account on first login when the identity is not linked */
  jit?: boolean;
  /** extra options for `strategy.authenticate` (scope, ...) */
  authenticateOptions?: Record<string, unknown>;
};

type Action =
  | { kind: 'success'; user: unknown }
  | { kind: 'fail'; message?: string }
  | { kind: 'redirect'; url: string }
  | { kind: 'error' };

/**
 * Runs any Passport strategy as a step, the way passport's own middleware does — a
 * per-call object inheriting from the strategy, given `success`, `fail`, `redirect`,
 * `error` and `pass` — but without express or a global `passport`. The actions become
 * step results; the strategy's session state lives in the step's private state; a
 * strategy that never answers fails the step after `timeoutSeconds`.
 */
export function createPassportAuthenticator(
  options: PassportStepOptions,
  deps: { users: Users; links: LinkedIdentities; issuer: string; timeoutSeconds: number },
): Authenticator {
  const { displayName } = options;
  const failed = (code: string, message: string): StepResult => ({ kind: 'failure', error: { code, message }, view: FAILED_VIEW });

  async function run(step: StepContext): Promise<StepResult> {
    const session = (step.state.session ??= {}) as Record<string, unknown>;
    const callbackURL = `${deps.issuer}${step.urls.callback}`;
    const query = { ...step.input };
    const req: PassportRequest = {
      method: 'GET', url: `${step.urls.callback}?${new URLSearchParams(query)}`, query, body: {}, headers: {}, session,
    };
    const action = await new Promise<Action>((resolve) => {
      const timer = setTimeout(() => resolve({ kind: 'error' }), deps.timeoutSeconds * 1000);
      const done = (a: Action) => {
        clearTimeout(timer);
        resolve(a);
      };
      const call = Object.assign(Object.create(options.strategy) as Strategy, {
        success: (user: unknown) => done({ kind: 'success', user }),
        fail: (challenge?: unknown) => done({ kind: 'fail', message: typeof challenge === 'string' ? challenge : undefined }),
        redirect: (url: string) => done({ kind: 'redirect', url }),
        error: () => done({ kind: 'error' }),
        pass: () => done({ kind: 'fail' }),
      });
      try {
        // Strategies are typed against express; they read only what PassportRequest has.
        const authenticate = call.authenticate as unknown as (req: PassportRequest, options: Record<string, unknown>) => unknown;
        authenticate.call(call, req, { callbackURL, ...options.authenticateOptions });
      } catch {
        done({ kind: 'error' });
      }
    });

    switch (action.kind) {
      case 'redirect':
        return { kind: 'redirect', location: new URL(action.url, deps.issuer) };
      case 'fail':
        return failed('upstream_access_denied', `Sign-in at ${displayName} was cancelled, refused or could not be verified.`);
      case 'error':
        return failed('upstream_error', `${displayName} could not sign you in. Try again in a moment, or use another way to sign in.`);
      case 'success': {
        const subject = options.subject(action.user);
        if (!subject) return failed('upstream_invalid_response', `${displayName} did not say who you are.`);
        return resolveExternalIdentity(deps, {
          accountId: step.accountId,
          identity: { idpName: options.id, issuer: options.issuer, subject },
          displayName, jit: options.jit ?? false, upstream: {}, profile: {},
        });
      }
    }
  }

  return {
    id: options.id,
    label: `Sign in with ${displayName}`,
    requiresUser: false,
    amr: ['fed'],
    start: run,
    async resume(step) {
      const result = await run(step);
      // The strategy's state is for one round trip: a replayed callback finds none.
      if (result.kind !== 'redirect') delete step.state.session;
      return result;
    },
  };
}
