import pino from 'pino';

/**
 * Structured JSON logs. Authorization headers, cookies and form bodies are never logged.
 * Lines are written synchronously: one line per request, each sent through the libuv
 * threadpool (pino's asynchronous default), cost more CPU than the write itself and
 * queued behind argon2 hashes in that pool.
 */
export function createLogger(level: string): Logger {
  const destination = pino.destination({ dest: 1, sync: true });
  const base = { service: 'stepgate' };
  const logger = pino({ level, base, redact: ['req.headers.authorization', 'req.headers.cookie', '*.password', '*.secret', '*.client_secret'] }, destination);
  requestLines.set(logger, (line) => {
    if (!logger.isLevelEnabled('info')) return;
    destination.write(`{"level":30,"time":${Date.now()},"service":"stepgate","reqId":${JSON.stringify(line.reqId)},"method":${JSON.stringify(line.method)},"route":${JSON.stringify(line.route)},"path":${JSON.stringify(line.path)},"status":${line.status},"ms":${line.ms},"msg":"request"}\n`);
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
