import { dropAllTestDatabases } from './server.ts';

/**
 * Mocha root hooks: after the whole suite, drop the PostgreSQL databases tests made and did
 * not drop themselves (servers that share one database across processes or restarts), so
 * repeated runs on one machine leave nothing behind.
 */
export const mochaHooks = {
  async afterAll() {
    await dropAllTestDatabases();
  },
};
