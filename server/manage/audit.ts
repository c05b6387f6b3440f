import type { Services } from '../services.ts';
import type { AuditQuery } from './schemas.ts';

const UNIT = { m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** "30m", "12h", "7d" → epoch milliseconds that long ago. */
export function since(duration: string, now = Date.now()): number {
  const unit = duration.at(-1) as keyof typeof UNIT;
  return now - Number(duration.slice(0, -1)) * UNIT[unit];
}

export type AuditPage = { events: (Record<string, unknown> & { id: number; at: string })[]; next_before: number | null };

/** Reading the audit log, newest first, with the same filters at every door. */
export class ManageAudit {
  readonly #s: Services;

  constructor(s: Services) {
    this.#s = s;
  }

  async list(q: AuditQuery): Promise<AuditPage> {
    const limit = q.limit ?? 100;
    const from = [q.from ? Date.parse(q.from) : undefined, q.since ? since(q.since) : undefined].filter((v) => v !== undefined);
    const events = await this.#s.audit.list({
      kind: q.kind, actor: q.actor, clientId: q.client, before: q.before, limit,
      from: from.length ? Math.max(...from) : undefined, to: q.to ? Date.parse(q.to) : undefined,
    });
    return { events: events.map((e) => ({ ...e, at: new Date(e.at).toISOString() })), next_before: events.length === limit ? events.at(-1)!.id : null };
  }
}
