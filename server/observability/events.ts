import { EventEmitter } from 'node:events';

/**
 * What the chain engine and brute-force protection report, for metrics (and anyone else
 * who listens). Labels are client ids, authenticator ids and machine codes: never a
 * username, an address or anything a user typed.
 */
export type FlowEventMap = {
  'login.started': [{ clientId: string }];
  'login.step': [{ clientId: string; step: string; outcome: 'success' | 'failure'; reason?: string }];
  'login.completed': [{ clientId: string }];
  'lockout': [{ factor: string; scope: string }];
};

export class FlowEvents extends EventEmitter<FlowEventMap> {}
