import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { OPERATIONS } from '../../server/manage/operations.ts';
import { commands } from '../../server/cli/index.ts';
import { adminApi } from '../../server/admin/api.ts';
import { adminConsole } from '../../server/admin/console.ts';
import { adminSchemas } from '../../server/manage/schemas.ts';
import { ManageClients } from '../../server/manage/clients.ts';
import { ManageUsers } from '../../server/manage/users.ts';
import { ManageIdps } from '../../server/manage/idps.ts';
import { ManageSamlIdps } from '../../server/manage/saml-idps.ts';
import { ManageAudit } from '../../server/manage/audit.ts';
import { ManageKeys } from '../../server/manage/keys.ts';
import { ManageOverview } from '../../server/manage/overview.ts';
import type { AdminContext } from '../../server/admin/context.ts';

/** "METHOD /path" of every route a router serves. */
function routes(router: { stack: { methods: string[]; path: string }[] }, prefix: string): Set<string> {
  return new Set(router.stack.flatMap((layer) => layer.methods.filter((m) => m !== 'HEAD').map((m) => `${m} ${layer.path.slice(prefix.length) || '/'}`)));
}

/** Public methods of each noun of the service ("clients.create", ...). */
function serviceMethods(): string[] {
  const nouns: Record<string, { prototype: object }> = { clients: ManageClients, users: ManageUsers, idps: ManageIdps, samlIdps: ManageSamlIdps, audit: ManageAudit, keys: ManageKeys, overview: ManageOverview };
  return Object.entries(nouns).flatMap(([noun, cls]) => Object.getOwnPropertyNames(cls.prototype)
    .filter((m) => !['constructor', 'view', 'overlapSeconds'].includes(m)).map((m) => `${noun}.${m}`));
}

describe('management parity: every operation through every door', () => {
  // The routers are only inspected, never served: a context with nothing behind it will do.
  const context = { manage: { schemas: adminSchemas({ has: () => true, requiresUser: () => false }) }, issuer: 'http://localhost' } as unknown as AdminContext;
  const cli = new Set(commands().map((c) => c.name));
  const api = routes(adminApi(context) as never, '/admin/api');
  const consolePages = routes(adminConsole(context) as never, '/admin');

  for (const op of OPERATIONS) {
    it(`${op.what}: CLI "${op.cli}", API ${op.api}, console ${op.console}`, () => {
      assert.ok(cli.has(op.cli), `the CLI has no "stepgate ${op.cli}"`);
      assert.ok(api.has(op.api), `the admin API has no ${op.api}`);
      assert.ok(consolePages.has(op.console), `the console has no ${op.console}`);
    });
  }

  it('lists every method of the management service', () => {
    const listed = new Set(OPERATIONS.map((o) => o.manage));
    const missing = serviceMethods().filter((m) => !listed.has(m));
    assert.deepEqual(missing, [], 'operations.ts lacks these methods: add them with their CLI command, API route and console page');
  });

  it('the adapters (CLI, API, console) and the service hold no SQL: storage classes write the tables', () => {
    const sql = /\b(SELECT\s+[\w*]|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM)\b/i;
    const files = ['server/cli', 'server/admin', 'server/manage'].flatMap((dir) => readdirSync(dir).filter((f) => f.endsWith('.ts')).map((f) => `${dir}/${f}`));
    const offenders = files.filter((f) => sql.test(readFileSync(f, 'utf8')));
    assert.deepEqual(offenders, []);
  });
});
