/**
 * In-process caches of rows read on every request (clients, identity providers), kept
 * true to the database that every process shares:
 *
 * - a write through `Database` to a cached table empties that table's caches here once it
 *   is committed (after the statement; for a Sequelize transaction, after its COMMIT);
 * - a write by another connection or process empties them before the next lookup:
 *   SQLite by `PRAGMA data_version` (it changes when any other connection commits; then
 *   every cache empties, as it cannot tell which table changed), PostgreSQL by
 *   LISTEN/NOTIFY (each write to a cached table notifies its name after the commit).
 *
 * A value loaded while an invalidation happened is returned but not kept, so a lookup
 * that raced a write cannot keep the old row.
 */
export type TableCache<V> = {
  /** The cached value for `key`, or what `load` returns (kept unless undefined). */
  get(key: string, load: () => Promise<V>): Promise<V>;
  /** What `load` returns, read by another key (a user by name): kept under `keyOf(value)` as `get` would keep it. */
  through(load: () => Promise<V>, keyOf: (value: V) => string | undefined): Promise<V>;
  /** This process changed the cached value of `key` in a way the caches need not follow elsewhere (see Database.change's `keepCaches`): kept as `change` makes it. */
  patch(key: string, change: (value: V) => V): void;
};

/** Enough for every client and identity provider of a deployment; beyond it, start over. */
const MAX_ENTRIES = 5000;

class Cache<V> implements TableCache<V> {
  readonly #owner: TableCaches;
  readonly #entries = new Map<string, V>();
  #generation = 0;

  constructor(owner: TableCaches) {
    this.#owner = owner;
  }

  async get(key: string, load: () => Promise<V>): Promise<V> {
    if (!this.#owner.fresh()) return load();
    const hit = this.#entries.get(key);
    if (hit !== undefined) return hit;
    return this.through(load, () => key);
  }

  async through(load: () => Promise<V>, keyOf: (value: V) => string | undefined): Promise<V> {
    if (!this.#owner.fresh()) return load();
    const generation = this.#generation;
    const value = await load();
    const key = value === undefined ? undefined : keyOf(value);
    if (key !== undefined && generation === this.#generation && this.#owner.fresh()) {
      if (this.#entries.size >= MAX_ENTRIES) this.#entries.clear();
      this.#entries.set(key, value);
    }
    return value;
  }

  patch(key: string, change: (value: V) => V): void {
    const hit = this.#entries.get(key);
    if (hit !== undefined) this.#entries.set(key, change(hit));
  }

  clear(): void {
    this.#generation++;
    this.#entries.clear();
  }
}

export class TableCaches {
  readonly #byTable = new Map<string, Cache<unknown>[]>();
  /** true when another connection may have written since the last look (SQLite's data_version) */
  readonly #changedElsewhere: () => boolean;
  #broken = false;

  constructor(changedElsewhere: () => boolean = () => false) {
    this.#changedElsewhere = changedElsewhere;
  }

  create<V>(table: string): TableCache<V> {
    const cache = new Cache<V>(this);
    this.#byTable.set(table, [...(this.#byTable.get(table) ?? []), cache as Cache<unknown>]);
    return cache;
  }

  caches(table: string): boolean {
    return this.#byTable.has(table);
  }

  invalidate(table: string): void {
    for (const cache of this.#byTable.get(table) ?? []) cache.clear();
  }

  /**
   * False while the caches cannot be trusted (the PostgreSQL listener is gone): then every
   * lookup reads the database. Checks for other connections' writes first.
   */
  fresh(): boolean {
    if (this.#broken) return false;
    if (this.#changedElsewhere()) for (const table of this.#byTable.keys()) this.invalidate(table);
    return true;
  }

  /** Other processes' changes can no longer be heard of: stop caching for good. */
  broken(): void {
    this.#broken = true;
    for (const table of this.#byTable.keys()) this.invalidate(table);
  }
}
