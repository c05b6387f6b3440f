import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs, { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import type { Context } from 'koa';
import { requestLogger } from '../../server/observability/request-log.ts';
import { createLogger, requestLineWriter } from '../../server/logger.ts';

/** A logger whose lines are collected, parsed. */
function collecting() {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({ write(chunk, _enc, done) { lines.push(JSON.parse(String(chunk)) as Record<string, unknown>); done(); } });
  return { logger: pino({ base: undefined }, sink), lines };
}
const flushed = () => new Promise((resolve) => setImmediate(resolve));

describe('requestLogger', () => {
  it('gives a request one child logger whose lines carry its request id', async () => {
    const { logger, lines } = collecting();
    const ctx = { state: { requestId: 'req-42' } } as unknown as Context;
    const log = requestLogger(ctx, logger);
    assert.equal(requestLogger(ctx, logger), log, 'the same child for the rest of the request');
    log.error('request failed');
    await flushed();
    assert.equal(lines.length, 1);
    assert.equal(lines[0]!.reqId, 'req-42');
    assert.equal(lines[0]!.msg, 'request failed');
  });

  it('is the logger itself outside a request, or before the request has an id', async () => {
    const { logger, lines } = collecting();
    assert.equal(requestLogger(undefined, logger), logger);
    assert.equal(requestLogger({ state: {} } as unknown as Context, logger), logger);
    logger.warn('outside');
    await flushed();
    assert.equal(lines[0]!.reqId, undefined);
  });
});

describe('the request line', () => {
  // Written by createLogger's own code to standard output, so it is read from a child process.
  const write = (level: string) => execFileSync(process.execPath, ['--input-type=module', '-e', `
    import pino from 'pino';
    import { createLogger, requestLineWriter } from ${JSON.stringify(new URL('../../server/logger.ts', import.meta.url).href)};
    const line = { reqId: 'r-1', method: 'POST', route: '/interaction/:uid', path: '/a"b\\\\c\\u2028dé', status: 303, ms: 1.5 };
    const logger = createLogger(${JSON.stringify(level)});
    requestLineWriter(logger)(line);
    // (written at the end of the turn)
    await new Promise((resolve) => setImmediate(resolve));
    // what pino itself writes for the same fields, with the same base
    pino({ base: { service: 'stepgate' } }, pino.destination({ dest: 1, sync: true })).info(line, 'request');
  `], { cwd: new URL('../..', import.meta.url) }).toString().trim().split('\n');

  it('is the line pino would write (fields, order, escaping), put together directly', () => {
    const [ours, pinos] = write('info');
    const withoutTime = (text: string) => text.replace(/"time":\d+,/, '');
    assert.equal(withoutTime(ours!), withoutTime(pinos!));
    const parsed = JSON.parse(ours!) as Record<string, unknown>;
    assert.equal(parsed.path, '/a"b\\c\u2028dé');
    assert.equal(parsed.level, 30);
  });

  it('is not written when the level is above info', () => {
    assert.equal(write('warn').length, 1, 'only the line pino wrote at its own info level');
  });
});

describe('the request lines of one event-loop turn', () => {
  const line = (n: number) => ({ reqId: `r-${n}`, method: 'POST', route: 'token', path: '/token', status: 200, ms: 0.4 });
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'stepgate-log-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const written = (file: string) => readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);

  it('are written together, by one write at the end of the turn', async () => {
    const file = join(dir, 'log');
    const logger = createLogger('info', file);
    const writeLine = requestLineWriter(logger);
    const writeSync = fs.writeSync;
    let writes = 0;
    fs.writeSync = ((...args: Parameters<typeof fs.writeSync>) => { writes++; return writeSync(...args); }) as typeof fs.writeSync;
    try {
      for (let n = 0; n < 3; n++) writeLine(line(n));
      assert.equal(written(file).length, 0, 'held until the end of the turn');
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      fs.writeSync = writeSync;
    }
    assert.deepEqual(written(file).map((l) => l.reqId), ['r-0', 'r-1', 'r-2']);
    assert.equal(writes, 1);
  });

  it('come before any line logged after them', () => {
    const file = join(dir, 'log');
    const logger = createLogger('info', file);
    requestLineWriter(logger)(line(1));
    logger.child({ reqId: 'r-1' }).error('request failed');
    assert.deepEqual(written(file).map((l) => l.msg), ['request', 'request failed']);
  });

  it('are written when the process dies of an uncaught exception in the same turn', () => {
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', `
      import { createLogger, requestLineWriter } from ${JSON.stringify(new URL('../../server/logger.ts', import.meta.url).href)};
      requestLineWriter(createLogger('info'))({ reqId: 'r-last', method: 'GET', route: 'jwks', path: '/jwks', status: 200, ms: 0.1 });
      throw new Error('boom');
    `], { cwd: new URL('../..', import.meta.url), encoding: 'utf8' });
    assert.notEqual(child.status, 0);
    assert.match(child.stderr, /boom/);
    assert.equal((JSON.parse(child.stdout.trim()) as { reqId: string }).reqId, 'r-last');
  });
});
