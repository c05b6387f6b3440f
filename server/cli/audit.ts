import { parse } from '../manage/schemas.ts';
import type { Command } from './command.ts';

export const auditCommands: Command[] = [
  {
    name: 'audit', summary: 'read the audit log, newest first',
    options: {
      kind: { type: 'string', help: 'kind prefix, e.g. admin. or auth.step', value: 'prefix' },
      since: { type: 'string', help: 'the last 30m, 12h, 7d, ...', value: 'duration' },
      actor: { type: 'string', help: 'user:<id>, api:<client> or cli:<os user>', value: 'actor' },
      client: { type: 'string', help: 'events of this client', value: 'client_id' },
      limit: { type: 'string', help: 'at most this many (default 100, up to 500)', value: 'n' },
      before: { type: 'string', help: 'older than this event id (paging)', value: 'id' },
    },
    async run(cli, _args, v) {
      const page = await cli.manage.audit.list(parse(cli.manage.schemas.auditQuery, {
        kind: v.kind, since: v.since, actor: v.actor, client: v.client, limit: v.limit, before: v.before,
      }));
      cli.print(page.events.map((e) => `${e.at}\t${e.kind}\t${(e.actor as string | null) ?? '-'}\t${(e.subject as string | null) ?? '-'}\t${JSON.stringify(e.details)}`).join('\n') || '(no events)', page);
    },
  },
];
