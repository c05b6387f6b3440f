import { EventEmitter } from 'node:events';

/**
 * What the chain engine and brute-force protection report, to the metrics and the audit
 * log. Metrics label only client ids, authenticator ids and machine codes; the subject and
 * address are for the audit log.
 */
export type FlowEventMap = {
  'login.started': [{ clientId: string }];
  'login.step': [{
    clientId: string; authenticator: string; step: number; outcome: 'success' | 'failure'; reason?: string;
    accountId?: string; address: string;
  }];
  'login.completed': [{ clientId: string }];
  'lockout': [{ key: string; factor: string; scope: string; seconds: number }];
  /** a browser is remembered for an account it was not remembered for (its owner is told) */
  'device.remembered': [{ accountId: string; userAgent: string | undefined; address: string }];
};

export class FlowEvents extends EventEmitter<FlowEventMap> {}
