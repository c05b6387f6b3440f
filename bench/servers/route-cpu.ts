import type { Server, IncomingMessage } from 'node:http';
import type { Handlers } from './ipc.ts';

/** A route's name with the ids taken out: `GET /interaction/:uid/step/0`, `GET /authorize/:uid`. */
export function routeOf(req: IncomingMessage): string {
  const path = (req.url ?? '/').split('?')[0]!
    .replace(/^\/interaction\/[^/]+/, '/interaction/:uid')
    .replace(/^\/authorize\/[^/]+/, '/authorize/:uid');
  return `${req.method} ${path}`;
}

/**
 * With BENCH_ROUTE_CPU set, the CPU each route costs: the process's (all threads) and its
 * main thread's, from one request's arrival to the next's, which is that request's when the
 * client sends one request at a time (bench/login-routes.ts). The `routeCpu` operation
 * returns the table and starts a new one. Without BENCH_ROUTE_CPU nothing is measured.
 * Given `statements` (the SQL statements run so far), each route's statements are counted
 * the same way.
 */
export function routeCpu(server: Server, statements?: () => number): Handlers {
  if (!process.env.BENCH_ROUTE_CPU) return {};
  const table = new Map<string, { n: number; process: number; main: number; statements: number }>();
  let last: { route: string; process: NodeJS.CpuUsage; main: NodeJS.CpuUsage; statements: number } | undefined;
  server.prependListener('request', (req: IncomingMessage) => {
    const now = { process: process.cpuUsage(), main: process.threadCpuUsage(), statements: statements?.() ?? 0 };
    if (last) {
      const row = table.get(last.route) ?? { n: 0, process: 0, main: 0, statements: 0 };
      row.n++;
      row.process += now.process.user + now.process.system - last.process.user - last.process.system;
      row.main += now.main.user + now.main.system - last.main.user - last.main.system;
      row.statements += now.statements - last.statements;
      table.set(last.route, row);
    }
    last = { route: routeOf(req), ...now };
  });
  return {
    async routeCpu() {
      const rows = [...table].map(([route, r]) => ({ route, n: r.n, processMs: r.process / 1000 / r.n, mainMs: r.main / 1000 / r.n, ...(statements && { statements: r.statements / r.n }) }));
      table.clear();
      last = undefined;
      return rows;
    },
  };
}
