import type { Services } from '../services.ts';

/** How many of each, and the newest sign-ins and failures (from the audit log). */
export type Overview = {
  clients: number;
  users: { total: number; disabled: number };
  recent_sign_ins: OverviewEvent[];
  recent_failures: OverviewEvent[];
};
export type OverviewEvent = { at: string; kind: string; client_id: string | null; subject: string | null; username: string | null; address: string | null; details: Record<string, unknown> };

/** A finished sign-in is a code issued to a client; a failure is a step answered wrongly, or a lockout. */
const SIGN_INS = 'auth.code.issued';
const FAILURES = ['auth.step.failed', 'auth.lockout'];

/** The console's start page, the API's GET /overview and `stepgate overview`: one read for all three doors. */
export class ManageOverview {
  readonly #s: Services;

  constructor(s: Services) {
    this.#s = s;
  }

  async get(limit = 10): Promise<Overview> {
    const [clients, users, signIns, ...failures] = await Promise.all([
      this.#s.clients.count(), this.#s.users.count(),
      this.#s.audit.list({ kind: SIGN_INS, limit }),
      ...FAILURES.map((kind) => this.#s.audit.list({ kind, limit })),
    ]);
    const newestFailures = failures.flat().sort((x, y) => y.id - x.id).slice(0, limit);
    // Events name accounts by id; people know them by username (a deleted account keeps its id).
    const ids = [...new Set([...signIns, ...newestFailures].map((e) => e.subject).filter((s): s is string => !!s))];
    const names = new Map((await Promise.all(ids.map((id) => this.#s.users.byId(id)))).filter((u) => u !== undefined).map((u) => [u.id, u.username]));
    const view = (e: (typeof signIns)[number]): OverviewEvent => ({
      at: new Date(e.at).toISOString(), kind: e.kind, client_id: e.clientId, subject: e.subject, username: (e.subject && names.get(e.subject)) ?? null, address: e.address, details: e.details,
    });
    return { clients, users, recent_sign_ins: signIns.map(view), recent_failures: newestFailures.map(view) };
  }
}
