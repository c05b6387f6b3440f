import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { Context } from 'koa';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { FlowEvents } from './events.ts';

const grantOf = (ctx: KoaContextWithOIDC): unknown => (ctx.oidc?.params as { grant_type?: unknown } | undefined)?.grant_type;

/**
 * Prometheus metrics: request latency per route, logins per client and step, lockouts,
 * tokens per grant, plus the process's own (memory, CPU, event loop). Each broker gets its
 * own registry, so several in one process (the tests) do not mix their numbers.
 */
export function createMetrics(provider: Provider, events: FlowEvents) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];

  const duration = new Histogram({
    name: 'stepgate_http_request_duration_seconds', help: 'HTTP request latency by route',
    labelNames: ['method', 'route', 'status'], buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers,
  });
  const started = new Counter({ name: 'stepgate_logins_started_total', help: 'Logins begun (the first step page of an interaction)', labelNames: ['client'], registers });
  const completed = new Counter({ name: 'stepgate_logins_completed_total', help: 'Logins with every step of the chain satisfied', labelNames: ['client'], registers });
  const steps = new Counter({
    name: 'stepgate_login_steps_total', help: 'Answers to a login step, by client, authenticator, outcome and failure reason',
    labelNames: ['client', 'step', 'outcome', 'reason', 'door'], registers,
  });
  const lockouts = new Counter({ name: 'stepgate_lockouts_total', help: 'Temporary lockouts imposed, by factor and by what was locked (account or address)', labelNames: ['factor', 'scope'], registers });
  const tokens = new Counter({ name: 'stepgate_tokens_issued_total', help: 'Successful token endpoint responses by grant type', labelNames: ['grant'], registers });
  const tokenErrors = new Counter({ name: 'stepgate_token_errors_total', help: 'Refused token requests by grant type and OAuth error', labelNames: ['grant', 'error'], registers });
  const codes = new Counter({ name: 'stepgate_authorizations_total', help: 'Authorization responses (codes) sent to clients', labelNames: ['client'], registers });

  events.on('login.started', ({ clientId }) => started.inc({ client: clientId }));
  events.on('login.completed', ({ clientId }) => completed.inc({ client: clientId }));
  events.on('login.step', ({ clientId, authenticator, outcome, reason, door }) => steps.inc({ client: clientId, step: authenticator, outcome, reason: reason ?? '', door }));
  events.on('lockout', ({ factor, scope }) => lockouts.inc({ factor, scope }));
  // A refused request's grant_type is whatever the caller sent: it becomes a label only
  // once a request with it has succeeded, which keeps the label set bounded.
  const knownGrants = new Set<string>();
  provider.on('grant.success', (ctx: KoaContextWithOIDC) => {
    const grant = String(grantOf(ctx));
    knownGrants.add(grant);
    tokens.inc({ grant });
  });
  provider.on('grant.error', (ctx: KoaContextWithOIDC, err: { error?: string }) => {
    const grant = grantOf(ctx);
    tokenErrors.inc({ grant: typeof grant === 'string' && knownGrants.has(grant) ? grant : 'other', error: err.error ?? 'server_error' });
  });
  provider.on('authorization.success', (ctx: KoaContextWithOIDC) => codes.inc({ client: ctx.oidc.client?.clientId ?? 'unknown' }));

  /** GET /metrics: the registry in Prometheus's text format. */
  async function answer(ctx: Context) {
    ctx.type = registry.contentType;
    ctx.body = await registry.metrics();
  }

  /** one request's latency (timed by server/observability/request-log.ts, which also answers /metrics with `answer`) */
  function requestDone(method: string, route: string, status: number, seconds: number) {
    duration.observe({ method, route, status: String(status) }, seconds);
  }

  return { registry, answer, requestDone };
}
