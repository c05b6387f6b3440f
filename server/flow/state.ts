import { randomBytes } from 'node:crypto';
import type { Database } from '../storage/database.ts';
import { readOnce } from '../storage/request-reads.ts';
import { flowStateReadKey, type FlowStateRow } from '../storage/oidc-adapter.ts';
import type { UpstreamLogin } from './contract.ts';

/** One satisfied step of a login in progress. */
export type SatisfiedStep = { step: number; authenticator: string; amr: string[]; at: number; remembered?: boolean; upstream?: UpstreamLogin };

/** Server-side state of one login, keyed by the oidc-provider interaction uid. */
export type FlowState = {
  clientId: string;
  /** the chain as it was when this login started (a chain edit applies to the next login) */
  chain: string;
  accountId?: string;
  satisfied: SatisfiedStep[];
  /** the alternative the user picked for the current step */
  chosen?: string;
  /** the current step's private state */
  stepState: Record<string, unknown>;
  /** the authenticator whose upstream provider the browser was sent to, and for which step; its callback is accepted once */
  awaiting?: string;
  awaitingStep?: number;
  /** anti-CSRF token for this login's forms; renewed after every completed step */
  csrf: string;
  /** the current step is being set up (enrolment at login) with this authenticator */
  enrolling?: string;
  /** an admin required a second factor: this login has one more step, of the factors that can be set up (see ChainRunner) */
  requiredEnrolment?: boolean;
  /** a factor was just set up: the recovery codes page must be acknowledged before the login goes on */
  recoveryCodesDue?: boolean;
  /** while an answer is being checked: no other answer is taken until then (epoch seconds) */
  busyUntil?: number;
  /**
   * which options of the steps still to be asked the user has set up, as the last answer's
   * plan read them: the next step's page is drawn from it without reading them again; an
   * answer reads them afresh (and corrects this when it changed)
   */
  configured?: Record<string, boolean>;
};

export const newCsrf = () => randomBytes(24).toString('base64url');
/** An id for an interaction (as oidc-provider draws them): a login's next one after a step (rotateInteraction). */
export const newInteractionUid = () => randomBytes(32).toString('base64url');

/**
 * Flow states with optimistic concurrency: `save` succeeds only for the version that was
 * loaded, so two tabs or two racing POSTs cannot both advance the same step.
 */
export class FlowStates {
  readonly #db: Database;

  constructor(db: Database) {
    this.#db = db;
  }

  async load(uid: string): Promise<{ state: FlowState; version: number } | undefined> {
    const read = () => this.#db.select<FlowStateRow>('SELECT data, version, expires_at FROM flow_states WHERE uid = :uid', { uid });
    // Usually read already, with the interaction (server/storage/oidc-adapter.ts); else read now.
    const [row] = (await readOnce<FlowStateRow[] | undefined>(['flow_states'], flowStateReadKey(uid), read)) ?? (await read());
    if (!row || row.expires_at <= Date.now() / 1000) return undefined;
    return { state: JSON.parse(row.data) as FlowState, version: row.version };
  }

  /** Creates the state; false when another request created it first. */
  async create(uid: string, state: FlowState, ttlSeconds: number): Promise<boolean> {
    return (await this.#db.change(
      'INSERT INTO flow_states (uid, data, version, expires_at) VALUES (:uid, :data, 1, :exp) ON CONFLICT (uid) DO NOTHING',
      { uid, data: JSON.stringify(state), exp: Math.floor(Date.now() / 1000) + ttlSeconds })) === 1;
  }

  /**
   * Saves over `version` (under the interaction's next id `moveTo`, when given); false when
   * someone else saved first (the caller must not go on).
   */
  async save(uid: string, state: FlowState, version: number, moveTo?: string): Promise<boolean> {
    const data = JSON.stringify(state);
    return (await (moveTo === undefined
      ? this.#db.change('UPDATE flow_states SET data = :data, version = version + 1 WHERE uid = :uid AND version = :version', { uid, data, version })
      : this.#db.change('UPDATE flow_states SET data = :data, version = version + 1, uid = :moveTo WHERE uid = :uid AND version = :version', { uid, data, version, moveTo }))) === 1;
  }

  /** Removes the state if it is still at `version`; false when someone else saved first. */
  async removeAt(uid: string, version: number): Promise<boolean> {
    return (await this.#db.change('DELETE FROM flow_states WHERE uid = :uid AND version = :version', { uid, version })) === 1;
  }

  async rename(uid: string, next: string): Promise<boolean> {
    return (await this.#db.change('UPDATE flow_states SET uid = :next WHERE uid = :uid', { uid, next })) === 1;
  }

  async remove(uid: string): Promise<void> {
    await this.#db.change('DELETE FROM flow_states WHERE uid = :uid', { uid });
  }
}
