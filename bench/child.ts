import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const NODE = fileURLToPath(new URL('../node_modules/.bin/node', import.meta.url));

/** CPU 1 for what is measured, CPU 0 for the load generator, when taskset exists and there are two CPUs. */
export const SERVER_CPU = (() => {
  try {
    execFileSync('taskset', ['-V'], { stdio: 'ignore' });
    return Number(execFileSync('nproc').toString()) >= 2 ? '1' : undefined;
  } catch {
    return undefined;
  }
})();

/** Pins the current process (the load generator) to the other CPU. */
export function pinSelf(): void {
  if (SERVER_CPU) execFileSync('taskset', ['-pc', '0', String(process.pid)], { stdio: 'ignore' });
}

const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK']).toString()) || 100;

function command(args: string[]): [string, string[]] {
  return SERVER_CPU ? ['taskset', ['-c', SERVER_CPU, NODE, ...args]] : [NODE, args];
}

export type BenchServer = {
  port: number;
  pid: number;
  call<T>(op: string, args?: Record<string, unknown>): Promise<T>;
  /** resident memory now, in MB (from /proc) */
  rssMb(): number;
  /** CPU time the process (all its threads) has used so far, in ms (from /proc) */
  cpuMs(): number;
  /**
   * CPU time so far of its threads other than libuv's thread pool (where argon2id hashes
   * run): the event loop, V8's compiler and GC helpers. Threads that have ended are not
   * counted (none do in a running server).
   */
  cpuMsOutsideThreadPool(): number;
  /** CPU time so far (ms) by thread: the event loop's (main), libuv's thread pool's, and the rest (V8's GC and compiler helpers) */
  cpuMsByThread(): { main: number; pool: number; helpers: number };
  stop(): Promise<void>;
};

/** Starts `script` (a file under bench/servers, or an absolute path) in its own process, on one CPU, and waits until it listens. */
export async function startServer(script: string, env: Record<string, string> = {}, nodeArgs: string[] = []): Promise<BenchServer> {
  const [cmd, args] = command([...nodeArgs, isAbsolute(script) ? script : `bench/servers/${script}`]);
  const child: ChildProcess = spawn(cmd, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  let nextId = 0;
  const pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  const port = await new Promise<number>((resolve, reject) => {
    child.on('message', (m: { ready?: number; id?: number; result?: unknown; error?: string }) => {
      if (m.ready !== undefined) return resolve(m.ready);
      const p = pending.get(m.id!);
      pending.delete(m.id!);
      if (m.error) p?.reject(new Error(m.error));
      else p?.resolve(m.result);
    });
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code} before it listened`)));
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const cpuMsByThread = () => {
    const ms = { main: 0, pool: 0, helpers: 0 };
    for (const task of readdirSync(`/proc/${child.pid}/task`)) {
      try {
        const name = readFileSync(`/proc/${child.pid}/task/${task}/comm`, 'utf8').trim();
        const fields = readFileSync(`/proc/${child.pid}/task/${task}/stat`, 'utf8').split(') ')[1]!.split(' ');
        const kind = Number(task) === child.pid ? 'main' : name === 'libuv-worker' ? 'pool' : 'helpers';
        ms[kind] += ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
      } catch {
        // the thread ended meanwhile
      }
    }
    return ms;
  };
  return {
    port,
    pid: child.pid!,
    call<T>(op: string, args: Record<string, unknown> = {}) {
      const id = nextId++;
      return new Promise<T>((resolve, reject) => {
        pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
        child.send({ id, op, args });
      });
    },
    rssMb() {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
      return m ? Number(m[1]) / 1024 : NaN;
    },
    cpuMsOutsideThreadPool() {
      const { main, helpers } = cpuMsByThread();
      return main + helpers;
    },
    cpuMsByThread,
    cpuMs() {
      // fields 14 and 15 of /proc/<pid>/stat, after the parenthesised command name: utime, stime in clock ticks
      const fields = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
    },
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Runs a one-shot script (bench/<script>) on the server CPU and returns its JSON output. */
export function runScript<T>(script: string, args: string[]): T {
  const [cmd, argv] = command([`bench/${script}`, ...args]);
  return JSON.parse(execFileSync(cmd, argv, { cwd: ROOT }).toString()) as T;
}
