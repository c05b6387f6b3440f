import type { Transaction } from 'sequelize';
import type { Database } from '../storage/database.ts';
import { outsideRequests } from '../storage/request-reads.ts';

/** One line of the audit log. `details` never holds a secret: see `redact`. */
export type AuditEvent = {
  kind: string;
  /** who did it: "user:<id>" for a person, "client:<id>" for automation, absent for the public */
  actor?: string | null;
  clientId?: string | null;
  address?: string | null;
  /** what it was done to: a user id, a client id */
  subject?: string | null;
  details?: Record<string, unknown>;
};

export type StoredAuditEvent = Required<Omit<AuditEvent, 'details'>> & { id: number; at: number; details: Record<string, unknown> };

export type AuditFilter = { kind?: string; actor?: string; subject?: string; clientId?: string; from?: number; to?: number; before?: number; limit?: number };

/** Rows per INSERT of noted events (each row count is its own prepared statement). */
const NOTE_BATCH = 32;
const NOTE_COLUMNS = ['at', 'kind', 'actor', 'clientId', 'address', 'subject', 'details'] as const;
/** The n-th row's value names, and the INSERT of n rows at NOTE_INSERTS[n - 1] (made once, not per write). */
const NOTE_NAMES = Array.from({ length: NOTE_BATCH }, (_, n) => NOTE_COLUMNS.map((c) => `${c}${n}`));
const NOTE_INSERTS = Array.from({ length: NOTE_BATCH }, (_, i) => `INSERT INTO audit_events (at, kind, actor, client_id, address, subject, details) VALUES ${
  NOTE_NAMES.slice(0, i + 1).map((names) => `(${names.map((name) => `:${name}`).join(', ')})`).join(', ')}`);

const NOTE_INSERT_SET = new Set(NOTE_INSERTS);
/**
 * How long a noted event may wait to be written with the ones noted after it (as
 * PostgreSQL's wal_writer_delay for asynchronous commits): logins at 20 a second write
 * their four events in about one statement per login instead of four.
 */
const NOTE_WINDOW_MS = 200;

/** Keys whose values are secrets wherever they appear in an event's details. */
const SECRET_KEYS = /secret|password|hash|^(access_|refresh_|id_)?token$|^code$/i;

const hideSecret = (key: string, v: unknown) => (SECRET_KEYS.test(key) && v !== null && v !== undefined && typeof v !== 'boolean' ? '[redacted]' : v);

/** `value` as JSON, every secret-looking key's value at any depth replaced by "[redacted]" (no copy made first). */
export function redactedJson(value: unknown): string {
  return JSON.stringify(value, hideSecret);
}

/** A deep copy of `value` with every secret-looking key replaced by "[redacted]". */
export function redact(value: unknown): unknown {
  return value === undefined ? undefined : JSON.parse(redactedJson(value));
}

type Row = { id: number; at: number | string; kind: string; actor: string | null; client_id: string | null; address: string | null; subject: string | null; details: string };

/**
 * The audit log: admin changes (written in the same transaction as the change, so one
 * never exists without the other) and authentication events.
 */
export class Audit {
  readonly #db: Database;
  readonly #onError: (err: unknown) => void;

  constructor(db: Database, onError: (err: unknown) => void = () => {}) {
    this.#db = db;
    this.#onError = onError;
    // (not before the notes' own INSERTs: those are the flush)
    db.flushBefore('audit_events', (sql) => (NOTE_INSERT_SET.has(sql) ? undefined : this.flush()));
  }

  async record(event: AuditEvent, transaction?: Transaction): Promise<void> {
    await this.#db.change(
      `INSERT INTO audit_events (at, kind, actor, client_id, address, subject, details)
       VALUES (:at, :kind, :actor, :clientId, :address, :subject, :details)`,
      {
        at: Date.now(), kind: event.kind, actor: event.actor ?? null, clientId: event.clientId ?? null,
        address: event.address ?? null, subject: event.subject ?? null, details: redactedJson(event.details ?? {}),
      }, transaction);
  }

  /** Events noted and not yet written, and the writes under way. */
  #pending: (AuditEvent & { at: number })[] = [];
  #timer: NodeJS.Timeout | undefined;
  readonly #writing = new Set<Promise<void>>();

  /**
   * For event hooks on the login path and the token endpoint: a failed audit write is
   * logged, never fails the login. Noted events are written together, at most
   * NOTE_WINDOW_MS after the first of them (or at once when NOTE_BATCH are waiting): if the
   * process dies (kill -9, a crash) the events of that window are lost; `flush` (which
   * close() and SIGTERM run) writes them. A statement of this process on `audit_events`
   * (a read, an admin change's record) first writes them, so the log reads in order.
   */
  note(event: AuditEvent): void {
    this.#pending.push({ ...event, at: Date.now() });
    if (this.#pending.length >= NOTE_BATCH) void this.flush();
    // written on behalf of every request that noted one, not as part of the first
    else this.#timer ??= outsideRequests(() => setTimeout(() => void this.flush(), NOTE_WINDOW_MS));
  }

  /** Writes what `note` still holds; resolves when every write under way is done. */
  flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#pending.length) {
      const written = outsideRequests(() => this.#write(this.#pending.splice(0)));
      this.#writing.add(written);
      void written.finally(() => this.#writing.delete(written));
    }
    return Promise.all(this.#writing).then(() => {});
  }

  async #write(events: (AuditEvent & { at: number })[]): Promise<void> {
    for (let i = 0; i < events.length; i += NOTE_BATCH) {
      const batch = events.slice(i, i + NOTE_BATCH);
      const values: Record<string, unknown> = {};
      batch.forEach((event, n) => {
        const [at, kind, actor, clientId, address, subject, details] = NOTE_NAMES[n]!;
        values[at!] = event.at;
        values[kind!] = event.kind;
        values[actor!] = event.actor ?? null;
        values[clientId!] = event.clientId ?? null;
        values[address!] = event.address ?? null;
        values[subject!] = event.subject ?? null;
        values[details!] = redactedJson(event.details ?? {});
      });
      await this.#db.change(NOTE_INSERTS[batch.length - 1]!, values).catch(this.#onError);
    }
  }

  /** Oldest first from `from` (epoch ms), after event `afterId`: for exporting the log page by page. */
  async since(from: number, afterId = 0, limit = 500): Promise<StoredAuditEvent[]> {
    const rows = await this.#db.select<Row>('SELECT * FROM audit_events WHERE at >= :from AND id > :afterId ORDER BY id LIMIT :limit', { from, afterId, limit });
    return rows.map(toEvent);
  }

  /** Removes the events older than `before` (epoch ms); the number removed. */
  async removeOlderThan(before: number): Promise<number> {
    return this.#db.change('DELETE FROM audit_events WHERE at < :before', { before });
  }

  /** Newest first; `before` (an event id) pages backwards. Times are epoch milliseconds. */
  async list(filter: AuditFilter = {}): Promise<StoredAuditEvent[]> {
    const where: string[] = [];
    const repl: Record<string, unknown> = { limit: Math.min(Math.max(filter.limit ?? 100, 1), 500) };
    if (filter.kind) { where.push("kind LIKE :kind ESCAPE '!'"); repl.kind = `${filter.kind.replace(/[!%_]/g, '!$&')}%`; }
    if (filter.actor) { where.push('actor = :actor'); repl.actor = filter.actor; }
    if (filter.subject) { where.push('subject = :subject'); repl.subject = filter.subject; }
    if (filter.clientId) { where.push('client_id = :clientId'); repl.clientId = filter.clientId; }
    if (filter.from !== undefined) { where.push('at >= :from'); repl.from = filter.from; }
    if (filter.to !== undefined) { where.push('at <= :to'); repl.to = filter.to; }
    if (filter.before !== undefined) { where.push('id < :before'); repl.before = filter.before; }
    const rows = await this.#db.select<Row>(
      `SELECT * FROM audit_events ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT :limit`, repl);
    return rows.map(toEvent);
  }
}

function toEvent(r: Row): StoredAuditEvent {
  return {
    id: Number(r.id), at: Number(r.at), kind: r.kind, actor: r.actor, clientId: r.client_id, address: r.address,
    subject: r.subject, details: JSON.parse(r.details) as Record<string, unknown>,
  };
}
