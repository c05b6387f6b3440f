import Router from '@koa/router';
import { koaBody } from 'koa-body';
import type { Context } from 'koa';
import * as oidc from 'openid-client';
import type { AdminContext } from './context.ts';
import { ADMIN_CLIENT_ID } from '../manage/index.ts';
import { isAdmin } from './principal.ts';
import { csrfMatches } from './sessions.ts';

const LOGIN_COOKIE = 'stepgate.admin.login';

/**
 * What an error answer from the sign-in means for an admin, and what to do next. The
 * broker's own pages end a console sign-in this way when it is cancelled or refused.
 */
function signInError(error: string): { title: string; message: string } {
  switch (error) {
    case 'access_denied':
      return { title: 'Sign-in cancelled', message: 'The console sign-in was cancelled (the Cancel button on a sign-in page), so you are not signed in and nothing was changed. Sign in again when you are ready.' };
    case 'login_required': case 'interaction_required': case 'consent_required': case 'account_selection_required':
      return { title: 'Sign-in needed', message: 'The broker needs you to sign in again before it opens the console. Start the sign-in again.' };
    case 'temporarily_unavailable': case 'server_error':
      return { title: 'Sign-in unavailable', message: 'The broker could not complete the sign-in just now. Wait a moment and start again; if it keeps happening, look at the server log.' };
    default:
      return { title: 'Sign-in refused', message: 'The broker refused the console sign-in. Start again; if it happens again, check the settings of the console\'s client (stepgate-admin) with the CLI (stepgate client show stepgate-admin) and the server log.' };
  }
}
const form = koaBody({ urlencoded: true, json: false, multipart: false, text: false, formLimit: '16kb' });

/**
 * The console signs admins in through this very broker: authorization code + PKCE with
 * openid-client against our own issuer, as any relying party would. The admin client's
 * chain (password + a second factor at least) is what an admin faces; only accounts with
 * the admin role get a console session.
 */
export function adminLogin(a: AdminContext) {
  const router = new Router({ prefix: '/admin' });
  const insecure = a.issuer.startsWith('http://');
  const callback = `${a.issuer}/admin/callback`;
  let metadata: oidc.ServerMetadata | undefined;

  async function rp(): Promise<oidc.Configuration> {
    const client = await a.clients.get(ADMIN_CLIENT_ID);
    if (!client?.secret) throw Object.assign(new Error('the admin console client is missing'), { status: 503, expose: true });
    if (!metadata) {
      const discovered = await oidc.discovery(new URL(a.issuer), ADMIN_CLIENT_ID, undefined, undefined, insecure ? { execute: [oidc.allowInsecureRequests] } : undefined);
      metadata = discovered.serverMetadata();
    }
    // Built per login so a rotated client secret is picked up without a restart.
    const config = new oidc.Configuration(metadata, ADMIN_CLIENT_ID, { client_secret: client.secret }, oidc.ClientSecretBasic(client.secret));
    if (insecure) oidc.allowInsecureRequests(config);
    return config;
  }

  const page = (ctx: Context, status: number, view: string, locals: Record<string, unknown>) => {
    ctx.status = status;
    ctx.type = 'html';
    ctx.body = a.views.render(`server/admin/views/${view}`, locals);
  };

  router.get('/login', async (ctx) => {
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const url = oidc.buildAuthorizationUrl(await rp(), {
      // The console takes a fresh login: a single sign-on session older than five
      // minutes runs the whole chain again.
      redirect_uri: callback, scope: 'openid', state, nonce, max_age: '300',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    });
    ctx.cookies.set(LOGIN_COOKIE, JSON.stringify({ verifier, state, nonce }), {
      signed: true, httpOnly: true, sameSite: 'lax', secure: !insecure, path: '/admin/callback', maxAge: 15 * 60_000,
    });
    ctx.redirect(url.href);
  });

  router.get('/callback', async (ctx) => {
    const saved = ctx.cookies.get(LOGIN_COOKIE, { signed: true });
    ctx.cookies.set(LOGIN_COOKIE, null, { signed: true, path: '/admin/callback' });
    if (typeof ctx.query.error === 'string') {
      // An error answer (RFC 6749 §4.1.2.1): say what happened and what to do, with the broker's words as a detail.
      const { title, message } = signInError(ctx.query.error);
      const description = typeof ctx.query.error_description === 'string' ? ctx.query.error_description.slice(0, 300) : '';
      a.logger.info({ error: ctx.query.error.slice(0, 64), description }, 'admin console sign-in ended with an error');
      return page(ctx, 400, 'message', { title, message, detail: `${ctx.query.error.slice(0, 64)}${description ? `: ${description}` : ''}`, link: '/admin/login', linkText: 'Sign in again' });
    }
    if (!saved) return page(ctx, 400, 'message', { title: 'Sign-in expired', message: 'This console sign-in has expired or was started in another browser.', link: '/admin/login', linkText: 'Sign in again' });
    const { verifier, state, nonce } = JSON.parse(saved) as { verifier: string; state: string; nonce: string };
    let sub: string;
    try {
      const tokens = await oidc.authorizationCodeGrant(await rp(), new URL(ctx.originalUrl, a.issuer), { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce });
      sub = tokens.claims()!.sub;
    } catch (err) {
      a.logger.warn({ err: (err as Error).message }, 'admin console sign-in failed');
      return page(ctx, 400, 'message', { title: 'Sign-in failed', message: 'The sign-in could not be completed. Start again.', link: '/admin/login', linkText: 'Sign in again' });
    }
    const user = await a.users.byId(sub);
    if (!user || !isAdmin(user)) {
      a.audit.note({ kind: 'admin.login.refused', actor: `user:${sub}`, subject: sub, address: ctx.ip, clientId: ADMIN_CLIENT_ID });
      return page(ctx, 403, 'message', {
        title: 'Not an administrator',
        message: `You signed in as ${user?.username ?? 'an unknown account'}, which does not have the admin role. The console is only for administrators.`,
      });
    }
    await a.sessions.start(ctx, user.id);
    await a.audit.record({ kind: 'admin.login', actor: `user:${user.id}`, subject: user.id, address: ctx.ip, clientId: ADMIN_CLIENT_ID });
    ctx.redirect('/admin');
  });

  router.post('/logout', form, async (ctx) => {
    const session = await a.sessions.current(ctx);
    if (session && !csrfMatches(session, (ctx.request.body as Record<string, unknown>)?._csrf)) {
      return page(ctx, 403, 'message', { title: 'Form out of date', message: 'This form is out of date. Reload the page and try again.' });
    }
    await a.sessions.end(ctx);
    if (session) a.audit.note({ kind: 'admin.logout', actor: `user:${session.userId}`, subject: session.userId, address: ctx.ip });
    ctx.status = 303;
    ctx.redirect('/admin/signed-out');
  });

  router.get('/signed-out', (ctx) => page(ctx, 200, 'message', { title: 'Signed out', message: 'You have left the admin console.', link: '/admin/login', linkText: 'Sign in again' }));

  return router;
}
