import pino from 'pino';

/** What each logger of createLogger still holds back: written synchronously when the process exits through Node (`process.exit`, an uncaught exception, the end of the event loop). */
const held = new Set<() => void>();
process.on('exit', () => {
  for (const write of held) write();
});

/** Held-back request lines beyond this many characters are written at once. */
const HELD_MAX = 64 * 1024;

/**
 * Structured JSON logs. Authorization headers, cookies and form bodies are never logged.
 * Lines are written synchronously, to standard output unless `dest` says otherwise: sent
 * through the libuv threadpool (pino's asynchronous default), each line cost more CPU than
 * the write itself and queued behind argon2 hashes in that pool.
 *
 * The request lines of one event-loop turn are written together, by one system call at
 * the end of the turn: each line's own write was 11–13 µs of an introspection request's
 * 250 (timed in the server; a system call costs 5–7 µs on this kind of virtual machine).
 * Any other line writes them first, so lines stay in order. They are written when the
 * process exits (an uncaught exception or `process.exit` included); only a process killed
 * outright loses them, at most one turn's.
 */
export function createLogger(level: string, dest: number | string = 1): Logger {
  const destination = pino.destination({ dest, sync: true });
  let lines = '';
  const writeHeld = () => {
    if (!lines) return;
    const out = lines;
    lines = '';
    held.delete(writeHeld);
    destination.write(out);
  };
  const inOrder = {
    write(line: string) {
      writeHeld();
      return destination.write(line);
    },
    flush(cb?: (err?: Error) => void) {
      writeHeld();
      destination.flush(cb);
    },
  };
  const base = { service: 'stepgate' };
  const logger = pino({ level, base, redact: ['req.headers.authorization', 'req.headers.cookie', '*.password', '*.secret', '*.client_secret'] }, inOrder as unknown as pino.DestinationStream);
  requestLines.set(logger, (line) => {
    if (!logger.isLevelEnabled('info')) return;
    if (!lines) {
      held.add(writeHeld);
      setImmediate(writeHeld);
    }
    lines += `{"level":30,"time":${Date.now()},"service":"stepgate","reqId":${JSON.stringify(line.reqId)},"method":${JSON.stringify(line.method)},"route":${JSON.stringify(line.route)},"path":${JSON.stringify(line.path)},"status":${line.status},"ms":${line.ms},"msg":"request"}\n`;
    if (lines.length > HELD_MAX) writeHeld();
  });
  return logger;
}

export type Logger = pino.Logger;

/** The one line per request: only these fields, chosen in server/observability/request-log.ts (never a header, query or body). */
export type RequestLine = { reqId: string; method: string; route: string; path: string; status: number; ms: number };

const requestLines = new WeakMap<Logger, (line: RequestLine) => void>();

/**
 * What writes the per-request line of `logger`. For a logger of createLogger, the line is
 * the one pino would write (same fields, same order, same destination), put together
 * directly: through pino, the line was 13 % of an introspection request's CPU, written
 * directly 6 % (README, Benchmarks). Any other logger: its own `info`.
 */
export function requestLineWriter(logger: Logger): (line: RequestLine) => void {
  return requestLines.get(logger) ?? ((line) => logger.info(line, 'request'));
}
