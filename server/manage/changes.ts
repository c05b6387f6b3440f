import type { Transaction } from 'sequelize';
import type { Database } from '../storage/database.ts';
import type { Audit, AuditEvent } from '../audit/index.ts';
import type { Actor } from './errors.ts';

/**
 * One change = one transaction holding the writes and their audit record: a refused or
 * failed change leaves the database as it was, and no change exists without its record.
 */
export class Changes {
  readonly #db: Database;
  readonly #audit: Audit;

  constructor(db: Database, audit: Audit) {
    this.#db = db;
    this.#audit = audit;
  }

  run<T>(work: (t: Transaction) => Promise<T>): Promise<T> {
    return this.#db.transaction(work);
  }

  record(t: Transaction, by: Actor, event: Omit<AuditEvent, 'actor' | 'address'>): Promise<void> {
    return this.#audit.record({ ...event, actor: by.actor, address: by.address }, t);
  }
}
