import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import pino from 'pino';
import type { Context } from 'koa';
import { requestLogger } from '../../server/observability/request-log.ts';

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
