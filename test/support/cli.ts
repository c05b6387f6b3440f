import { execute } from '../../server/cli/index.ts';
import type { TestServer } from './server.ts';

/** The CLI run in-process (its real entry point) on a test broker's database: exit code and output. */
export function inProcessCli(server: TestServer, secretKey: string) {
  return async (args: string[], stdin?: string) => {
    let stdout = '';
    let stderr = '';
    const code = await execute(args, {
      env: { DATABASE_URL: server.config.databaseUrl, STEPGATE_SECRET_KEYS: secretKey, ISSUER: server.issuer, STEPGATE_DATA_DIR: server.dir, STEPGATE_DEMO: '0', LOG_LEVEL: 'silent' },
      out: (t) => (stdout += `${t}\n`), err: (t) => (stderr += `${t}\n`),
      stdin: async () => stdin,
    });
    return { code, stdout, stderr, json: () => JSON.parse(stdout) as any };
  };
}
