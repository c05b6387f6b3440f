import pino from 'pino';

/** Structured JSON logs. Authorization headers, cookies and form bodies are never logged. */
export function createLogger(level: string) {
  return pino({ level, base: { service: 'stepgate' }, redact: ['req.headers.authorization', 'req.headers.cookie', '*.password', '*.secret', '*.client_secret'] });
}

export type Logger = ReturnType<typeof createLogger>;
