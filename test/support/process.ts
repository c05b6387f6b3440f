import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const ROOT = root;
const NODE = fileURLToPath(new URL('../../node_modules/.bin/node', import.meta.url));

/** Runs the `stepgate` CLI as a user would (same Node, same entry point). */
export function runCli(args: string[], env: Record<string, string>, stdin?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/stepgate.js', ...args], { cwd: root, env: { ...process.env, LOG_LEVEL: 'silent', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(stdin ?? '');
  });
}

/** `stepgate serve` in a child process; resolves once it listens. */
export async function spawnServer(env: Record<string, string>): Promise<{ child: ChildProcess; output: () => string; exited: Promise<number | null> }> {
  const child = spawn(process.execPath, ['server/cli.ts', 'serve'], { cwd: root, env: { ...process.env, LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${output}`)), 20_000);
    const onData = (d: Buffer) => {
      output += d;
      if (output.includes('stepgate listening')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (d) => (output += d));
    child.on('exit', () => reject(new Error(`server exited:\n${output}`)));
  });
  return { child, output: () => output, exited };
}

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
