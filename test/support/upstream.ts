import { createServer, type Server } from 'node:http';
import { randomBytes } from 'node:crypto';
import Provider from 'oidc-provider';
import { freePort } from './server.ts';

export type UpstreamUser = { username: string; password: string; sub: string; email?: string };

export type Upstream = {
  issuer: string;
  clientId: string;
  clientSecret: string;
  provider: Provider;
  stop(): Promise<void>;
};

const page = (title: string, body: string) => `<!doctype html><html><head><title>${title}</title></head><body>${body}</body></html>`;
const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * A real oidc-provider on its own loopback address playing an external IdP ("Yahoo"):
 * its own users, its own login form (with a Cancel button that answers access_denied),
 * consent granted with the login. `host` must differ between upstreams and from the
 * broker's "localhost" — cookies are per host, not per port.
 */
export async function startUpstream(options: {
  host: string; users: UpstreamUser[]; redirectUris: string[]; acr?: string; amr?: string[];
  /** true: profile and email claims only at userinfo, as many providers do (default: in the id_token too) */
  claimsOnlyAtUserinfo?: boolean;
}): Promise<Upstream> {
  const port = await freePort();
  const issuer = `http://${options.host}:${port}`;
  const clientId = 'stepgate-broker';
  const clientSecret = randomBytes(24).toString('base64url');
  const users = new Map(options.users.map((u) => [u.username, u]));
  const bySub = new Map(options.users.map((u) => [u.sub, u]));

  const provider = new Provider(issuer, {
    clients: [{ client_id: clientId, client_secret: clientSecret, redirect_uris: options.redirectUris, token_endpoint_auth_method: 'client_secret_post' }],
    cookies: { keys: [randomBytes(16).toString('hex')] },
    claims: { acr: null, amr: null, openid: ['sub', 'acr', 'amr'], profile: ['preferred_username'], email: ['email', 'email_verified'] },
    acrValues: ['urn:upstream:loa:1'],
    features: { devInteractions: { enabled: false } },
    conformIdTokenClaims: options.claimsOnlyAtUserinfo === true,
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    async findAccount(_ctx, sub) {
      const user = bySub.get(sub);
      if (!user) return undefined;
      return { accountId: sub, async claims() { return { sub, preferred_username: user.username, ...(user.email ? { email: user.email, email_verified: true } : {}) }; } };
    },
  });

  // The upstream's own login pages: a form, a POST that signs in (or cancels).
  provider.use(async (ctx, next) => {
    const match = /^\/interaction\/([^/]+)(\/login)?$/.exec(ctx.path);
    if (!match) return next();
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    if (ctx.method === 'GET') {
      ctx.type = 'html';
      ctx.body = page('Upstream sign-in', `<h1>Upstream ${escape(options.host)}</h1>
        <form id="upstream-login" method="post" action="/interaction/${details.uid}/login">
          <input name="username"><input name="password" type="password">
          <button name="action" value="login">Sign in</button><button name="action" value="cancel">Cancel</button>
        </form>`);
      return;
    }
    const form = new URLSearchParams(await readBody(ctx.req));
    if (form.get('action') === 'cancel') {
      await provider.interactionFinished(ctx.req, ctx.res, { error: 'access_denied', error_description: 'the user cancelled' }, { mergeWithLastSubmission: false });
      return;
    }
    const user = users.get(form.get('username') ?? '');
    if (!user || user.password !== form.get('password')) {
      ctx.status = 401;
      ctx.type = 'html';
      ctx.body = page('Upstream sign-in', '<p class="upstream-error">wrong password</p>');
      return;
    }
    const grant = new provider.Grant({ accountId: user.sub, clientId: String(details.params.client_id) });
    grant.addOIDCScope(String(details.params.scope));
    const grantId = await grant.save();
    await provider.interactionFinished(ctx.req, ctx.res, {
      login: { accountId: user.sub, amr: options.amr ?? ['pwd'], ...(options.acr ? { acr: options.acr } : {}) },
      consent: { grantId },
    }, { mergeWithLastSubmission: false });
  });

  const server: Server = createServer(provider.callback());
  await new Promise<void>((resolve) => server.listen(port, options.host, resolve));
  return {
    issuer, clientId, clientSecret, provider,
    async stop() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

async function readBody(req: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
