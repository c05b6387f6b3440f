import { parse } from '../manage/schemas.ts';
import { since } from '../manage/audit.ts';
import { sweep } from '../storage/sweeps.ts';
import { UsageError, type Command } from './command.ts';

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
  {
    name: 'overview', summary: 'how many clients and users, the newest sign-ins and failures',
    options: {},
    async run(cli) {
      const o = await cli.manage.overview.get();
      const line = (e: { at: string; kind: string; client_id: string | null; username: string | null; subject: string | null }) => `  ${e.at}\t${e.kind}\t${e.client_id ?? '-'}\t${e.username ?? e.subject ?? '-'}`;
      cli.print([
        `clients: ${o.clients}`, `users: ${o.users.total} (${o.users.disabled} disabled)`,
        'recent sign-ins:', ...(o.recent_sign_ins.length ? o.recent_sign_ins.map(line) : ['  (none)']),
        'recent failures:', ...(o.recent_failures.length ? o.recent_failures.map(line) : ['  (none)']),
      ].join('\n'), o);
    },
  },
  {
    name: 'audit export', summary: 'write audit events as JSON Lines (one event a line, oldest first), e.g. before the retention sweep removes them',
    options: { since: { type: 'string', help: 'from this time (ISO 8601) or the last 30m, 12h, 400d, ...', value: 'when' } },
    async run(cli, _args, v) {
      const text = v.since as string | undefined;
      const from = text === undefined ? 0 : /^\d{1,6}[mhd]$/.test(text) ? since(text) : Date.parse(text);
      if (Number.isNaN(from)) throw new UsageError('--since is an ISO 8601 time or a duration like 30m, 12h or 7d');
      let after = 0;
      for (;;) {
        const page = await cli.s.audit.since(from, after);
        for (const e of page) cli.io.out(JSON.stringify({ ...e, at: new Date(e.at).toISOString() }));
        if (page.length < 500) break;
        after = page.at(-1)!.id;
      }
    },
  },
  {
    name: 'sweep', summary: 'remove expired rows now (the server does this every 10 minutes), and audit events past the retention',
    async run(cli) {
      const { config } = cli.s;
      const counts = await sweep(cli.s.db, cli.s.audit, { sessionTtl: config.ttl.session, lockoutWindow: config.lockout.windowSeconds, auditRetentionDays: config.auditRetentionDays });
      cli.print(Object.entries(counts).map(([table, n]) => `${table}: ${n} removed`).join('\n'), counts);
    },
  },
];
