import sqlite3 from 'sqlite3';

/** How often, at most, the WAL is copied into the database while commits come in. */
const EVERY_MS = 3000;

/**
 * SQLite in WAL mode appends commits to the WAL and, every so many pages, copies them into
 * the database file (a checkpoint). Run by the committing connection, that copy and its
 * fsync happen inside a COMMIT, on the event loop: 13–20 ms without an answer every 1000
 * pages, 55 ms at 10,000 (measured with node:sqlite alone, four rows per commit). Here the
 * copy runs on a connection of the asynchronous driver, whose work happens on libuv's
 * thread pool, at most once a second while there are commits: the event loop never waits
 * for it. A PASSIVE checkpoint takes no lock writers or readers wait for; the next commit
 * after a complete one starts the WAL from its beginning again, so the file stays bounded.
 */
export function backgroundCheckpoints(file: string): { committed(): void; close(): Promise<void> } {
  const db = new sqlite3.Database(file);
  let dirty = false;
  let running: Promise<void> | undefined;
  const checkpoint = () => {
    if (!dirty || running) return;
    dirty = false;
    // SQLITE_BUSY (another checkpoint under way, in this or another process) is harmless:
    // the pages are copied by that one or the next.
    running = new Promise<void>((resolve) => db.run('PRAGMA wal_checkpoint(PASSIVE)', () => resolve()))
      .finally(() => { running = undefined; });
  };
  const timer = setInterval(checkpoint, EVERY_MS).unref();
  return {
    committed() {
      dirty = true;
    },
    async close() {
      clearInterval(timer);
      await running;
      await new Promise<void>((resolve) => db.close(() => resolve()));
    },
  };
}
