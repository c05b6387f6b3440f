import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { TestServer } from '../support/server.ts';

const CLI = fileURLToPath(new URL('../../server/cli.ts', import.meta.url));

/** Runs `stepgate <args>` against a test server's database and keys. */
export function stepgateCli(server: TestServer, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], {
      timeout: 20_000,
      env: {
        ...process.env, DATABASE_URL: server.config.databaseUrl, STEPGATE_SECRET_KEYS: server.config.secretKeys.join(','),
        STEPGATE_DATA_DIR: server.dir, STEPGATE_DEMO: '0', LOG_LEVEL: 'silent',
      },
    }, (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
}
