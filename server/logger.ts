import pino from 'pino';

/**
 * Structured JSON logs. Authorization headers, cookies and form bodies are never logged.
 * Lines are written synchronously: one line per request, each sent through the libuv
 * threadpool (pino's asynchronous default), cost more CPU than the write itself and
 * queued behind argon2 hashes in that pool.
 */
export function createLogger(level: string) {
  return pino(
    { level, base: { service: 'stepgate' }, redact: ['req.headers.authorization', 'req.headers.cookie', '*.password', '*.secret', '*.client_secret'] },
    pino.destination({ dest: 1, sync: true }),
  );
}

export type Logger = ReturnType<typeof createLogger>;
