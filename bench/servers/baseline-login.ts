import { generateKeyPair, exportJWK } from 'jose';
import Provider from 'oidc-provider';
import type { Context } from 'koa';
import { answerParent } from './ipc.ts';
import { routeCpu } from './route-cpu.ts';
import { BENCH_CLIENT, FIRST_PARTY_CLIENT } from './client.ts';

/**
 * The logins' baseline: a bare oidc-provider in memory answering the same requests as
 * stepgate's password + TOTP login (authorize → first page → its answer → second page →
 * its answer → resume → consent page → consent → resume → code at /token; at the
 * first-party client the second answer gives the consent too), with pages of one form and
 * answers that check nothing: no password hash, no code, no storage. What it costs is what
 * oidc-provider itself costs for that many requests, the floor of the login's CPU besides
 * the hash.
 */
// oidc-provider's own in-memory adapter (a subclass, so that it does not warn about using it)
const { default: MemoryAdapter } = await import('oidc-provider/lib/adapters/memory_adapter.js' as string);
class InMemory extends MemoryAdapter {}
const { privateKey } = await generateKeyPair('RS256', { extractable: true });
const clients = [BENCH_CLIENT, FIRST_PARTY_CLIENT].map((c) => ({
  client_id: c.clientId, client_secret: c.secret, redirect_uris: [c.redirectUri],
  grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'] as const, token_endpoint_auth_method: 'client_secret_basic' as const,
}));
const provider = new Provider('http://127.0.0.1', {
  adapter: InMemory,
  jwks: { keys: [{ ...(await exportJWK(privateKey)), alg: 'RS256', use: 'sig' }] },
  clients: clients as never,
  cookies: { keys: [Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64')] },
  routes: { authorization: '/authorize', token: '/token' },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  findAccount: async (_ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
  features: { devInteractions: { enabled: false } },
});

/** A page as the login client reads it: one form whose first field is `_csrf`. */
const page = (action: string) => `<!doctype html><html><body><form method="post" action="${action}">
<input type="hidden" name="_csrf" value="-"><input name="answer"><button>Continue</button></form></body></html>`;

async function readForm(ctx: Context): Promise<URLSearchParams> {
  let text = '';
  for await (const chunk of ctx.req) text += chunk;
  return new URLSearchParams(text);
}

async function grantFor(accountId: string, clientId: string): Promise<string> {
  const grant = new provider.Grant({ accountId, clientId });
  grant.addOIDCScope('openid');
  return grant.save();
}

provider.use(async (ctx, next) => {
  const m = /^\/interaction\/[^/]+(?:\/(step\/0|step\/1|consent))?$/.exec(ctx.path);
  if (!m) return next();
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  const clientId = String(details.params.client_id);
  if (ctx.method === 'GET') {
    ctx.type = 'html';
    const action = details.prompt.name === 'consent' ? 'consent' : details.result?.first ? 'step/1' : 'step/0';
    ctx.body = page(`/interaction/${details.uid}/${action}`);
    return;
  }
  const fields = await readForm(ctx);
  if (m[1] === 'step/0') {
    await provider.interactionResult(ctx.req, ctx.res, { first: fields.get('username') ?? '-' }, { mergeWithLastSubmission: true });
    ctx.redirect(`/interaction/${details.uid}`);
  } else if (m[1] === 'step/1') {
    const accountId = String(details.result!.first);
    const consent = clientId === FIRST_PARTY_CLIENT.clientId ? { consent: { grantId: await grantFor(accountId, clientId) } } : {};
    ctx.redirect(await provider.interactionResult(ctx.req, ctx.res, { login: { accountId }, ...consent }));
  } else {
    const grantId = await grantFor(details.session!.accountId, clientId);
    ctx.redirect(await provider.interactionResult(ctx.req, ctx.res, { consent: { grantId } }, { mergeWithLastSubmission: true }));
  }
});

const server = provider.listen(0, '127.0.0.1', () => {
  answerParent((server.address() as { port: number }).port, {
    ...routeCpu(server),
    /** usernames for the login client (any name signs in) */
    users: async ({ n, prefix = 'bench-user' }) => Array.from({ length: Number(n) }, (_, i) => `${String(prefix)}-${i}`),
  });
});
