import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const NODE = fileURLToPath(new URL('../../node_modules/.bin/node', import.meta.url));

export type ChildStepgate = {
  url: string;
  port: number;
  /** every stdout line the process wrote (pino JSON, one object a line) */
  lines: string[];
  stop(): Promise<void>;
};

/**
 * `stepgate serve` as a real child process (its own event loop and memory), with the
 * given environment on top of a clean one. Resolves once it logs that it listens.
 */
export async function spawnStepgate(env: Record<string, string>): Promise<ChildStepgate> {
  const child: ChildProcess = spawn(NODE, ['server/cli.ts', 'serve'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', STEPGATE_DEMO: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  const ready = new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      lines.push(line);
      if (line.includes('"stepgate listening"')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`stepgate exited (${code}) before listening: ${stderr}`)));
  });
  await ready;
  const port = Number(env.PORT);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    lines,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
