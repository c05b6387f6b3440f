import { EventEmitter } from 'node:events';

/**
 * What the chain engine and brute-force protection report, to the metrics and the audit
 * log. Metrics label only client ids, authenticator ids and machine codes; the subject and
 * address are for the audit log.
 */
/** Where an authentication happened: the login pages, or a token endpoint grant. */
/** where an authentication step was answered: a login in a browser, a grant, or a password reset's factor check */
export type Door = 'browser' | 'password_grant' | 'saml2_bearer' | 'password_reset';

/**
 * One answer to one authentication step, whatever the door. `accountId` is the subject as
 * resolved (a user id, or an unknown name's keyed hash), never what was typed.
 */
export type AuthStepEvent = {
  clientId: string; authenticator: string; step: number; outcome: 'success' | 'failure'; reason?: string;
  accountId?: string; address: string; door: Door;
};

export type FlowEventMap = {
  'login.started': [{ clientId: string }];
  'login.step': [AuthStepEvent];
  'login.completed': [{ clientId: string }];
  'lockout': [{ key: string; factor: string; scope: string; seconds: number }];
  /** a browser is remembered for an account it was not remembered for (its owner is told) */
  'device.remembered': [{ accountId: string; userAgent: string | undefined; address: string }];
};

export class FlowEvents extends EventEmitter<FlowEventMap> {
  /**
   * Reports a step's outcome: audited as `auth.step.passed|failed` and counted in
   * `stepgate_login_steps_total`, the same at every door. Every authenticator path calls this.
   */
  authStep(event: AuthStepEvent): void {
    this.emit('login.step', event);
  }
}
