import { readFileSync } from 'node:fs';
import Router from '@koa/router';
import { koaBody } from 'koa-body';
import type { Context } from 'koa';
import type { AdminContext } from './context.ts';
import { ManageError, ADMIN_CLIENT_ID, type Actor } from '../manage/index.ts';
import type { ClientView } from '../manage/clients.ts';
import type { AuditPage } from '../manage/audit.ts';
import { parse } from '../manage/schemas.ts';
import { resolvePrincipal } from './principal.ts';
import { csrfMatches, type AdminSession } from './sessions.ts';
import editChain, { ChainEditError, permits, type ChainEdit } from './chain-edit.ts';
import { parseChain, formatChain, ChainError } from '../flow/chain.ts';
import { describeSimulation } from '../flow/simulate.ts';
import { GRANT_TYPES, SIGNING_ALGS } from '../manage/client-fields.ts';
import { PRESETS } from '../federation/identity-providers.ts';
import { CLAIM_FIELDS, inUseProblem } from '../federation/idp-rules.ts';
import type { User } from '../storage/users.ts';
import { qrSvg } from '../../authenticators/totp/enrol.ts';
import { doneTo, noticeOf } from './notices.ts';
import { readableDetails } from './audit-diff.ts';

const stylesheet = readFileSync(new URL('./views/admin.css', import.meta.url));
const form = koaBody({ urlencoded: true, json: false, multipart: false, text: false, formLimit: '64kb' });

type Body = Record<string, string | string[] | undefined>;
type Admin = { user: User; session: AdminSession; by: Actor };
type Handler = (ctx: Context, me: Admin, body: Body) => Promise<void>;

/**
 * An action that destroys or replaces something. `ask` names it ("Delete client payroll?"),
 * says what follows and where Cancel goes; it loads what it names, so a missing one is a
 * 404 before anything is asked. `carry` are form fields passed through the confirmation
 * (which identity to unlink); `inputs` are asked on the confirmation page itself.
 */
type Danger = {
  ask: (ctx: Context, carried: Record<string, string>) => Promise<{ question: string; consequence: string; back: string }>;
  confirm: string;
  carry?: string[];
  inputs?: { name: string; label: string; type: string; hint?: string; autocomplete?: string }[];
};

const text = (body: Body, name: string): string => {
  const v = body[name];
  return typeof v === 'string' ? v : '';
};
const list = (body: Body, name: string): string[] => {
  const v = body[name];
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
};
const lines = (value: string) => value.split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
const optionalInt = (value: string) => (value.trim() === '' ? undefined : Number(value));

/** A datetime-local field ("2026-01-31T12:00") read as UTC; an ISO time with an offset as is. */
function isoTime(value: string): string | undefined {
  if (value.trim() === '') return undefined;
  return /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$/.test(value) ? `${value}:00Z` : value;
}

/**
 * The admin console: server-rendered pages with plain forms (no script), each change going
 * through the same validation and the same transactional actions as the API. Every form
 * carries the session's CSRF token.
 */
export function adminConsole(a: AdminContext) {
  const router = new Router({ prefix: '/admin' });
  const labels = (id: string) => a.runner.label(id);

  function render(ctx: Context, view: string, locals: Record<string, unknown>, status = 200) {
    ctx.status = status;
    ctx.type = 'html';
    ctx.body = a.views.render(`server/admin/views/${view}`, { notice: noticeOf(ctx), ...locals, me: ctx.state.admin?.user, csrf: ctx.state.admin?.session.csrf });
  }

  /** The signed-in admin, or undefined after answering (redirect to sign-in, or 403). */
  async function admin(ctx: Context): Promise<Admin | undefined> {
    const principal = await resolvePrincipal(ctx, a);
    if ('kind' in principal && principal.kind === 'session') {
      // Identity providers are stored configuration: list and validate what exists now.
      await a.runner.refresh();
      const found = { user: principal.user, session: principal.session, by: { actor: principal.actor, address: ctx.ip } };
      ctx.state.admin = found;
      return found;
    }
    if ('status' in principal && principal.status === 403) {
      render(ctx, 'message', { title: 'Not an administrator', message: 'Your account does not have the admin role. The console is only for administrators.' }, 403);
    } else if (ctx.method === 'GET') {
      ctx.redirect('/admin/login');
    } else {
      render(ctx, 'message', { title: 'Signed out', message: 'Your console session has ended. Sign in again.', link: '/admin/login', linkText: 'Sign in' }, 401);
    }
    return undefined;
  }

  /** A page handler for signed-in admins; form posts must carry the CSRF token. */
  function page(handler: Handler) {
    return async (ctx: Context) => {
      const me = await admin(ctx);
      if (!me) return;
      const body = (ctx.request.body ?? {}) as Body;
      if (ctx.method === 'POST' && !csrfMatches(me.session, body._csrf)) {
        return render(ctx, 'message', { title: 'Form out of date', message: 'This form is out of date. Reload the page and try again.' }, 403);
      }
      try {
        await handler(ctx, me, body);
      } catch (err) {
        if (!(err instanceof ManageError)) throw err;
        render(ctx, 'message', { title: err.status === 404 ? 'Not found' : 'Not changed', message: err.message, issues: err.issues, link: '/admin', linkText: 'Back to the console' }, err.status);
      }
    };
  }

  /**
   * One mechanism for every destructive action, so none acts on one click: GET <path>
   * asks (Confirm / Cancel); the POST acts only with confirm=yes and otherwise asks the
   * same question (an old one-click form, a forged-looking post).
   */
  function destructive(path: string, danger: Danger, act: Handler) {
    const ask = async (ctx: Context, from: Body) => {
      const carried = Object.fromEntries((danger.carry ?? []).map((n) => [n, text(from, n)]));
      const q = await danger.ask(ctx, carried);
      render(ctx, 'confirm', { title: q.question, consequence: q.consequence, back: q.back, confirmLabel: danger.confirm, action: ctx.path, carried, inputs: danger.inputs ?? [] });
    };
    router.get(path, page(async (ctx) => ask(ctx, ctx.query as Body)));
    router.post(path, form, page(async (ctx, me, body) => (text(body, 'confirm') === 'yes' ? act(ctx, me, body) : ask(ctx, body))));
  }
  const clientUrl = (id: string) => `/admin/clients/${encodeURIComponent(id)}`;
  const userUrl = (id: string) => `/admin/users/${encodeURIComponent(id)}`;
  const idpUrl = (name: string) => `/admin/identity-providers/${encodeURIComponent(name)}`;

  router.get('/static/admin.css', (ctx) => {
    ctx.type = 'text/css';
    ctx.set('Cache-Control', 'public, max-age=3600');
    ctx.body = stylesheet;
  });

  router.get('/', page(async (ctx) => {
    render(ctx, 'overview', { title: 'Overview', overview: await a.manage.overview.get() });
  }));

  // ---- clients -----------------------------------------------------------------------

  router.get('/clients', page(async (ctx) => {
    render(ctx, 'clients', { title: 'Clients', clients: await a.manage.clients.list() });
  }));

  const clientForm = async (ctx: Context, locals: { client?: ClientView; values: Record<string, unknown>; issues?: { path: string; message: string }[]; creating: boolean }, status = 200) =>
    render(ctx, 'client-form', {
      title: locals.creating ? 'New client' : `Edit ${locals.client?.client_id}`, grantTypes: GRANT_TYPES, signingAlgs: SIGNING_ALGS,
      samlIdps: (await a.manage.samlIdps.list()).map((i) => i.name), authenticators: a.authenticatorList(), ...locals,
    }, status);

  /** The fields both client forms share, as API input. */
  function clientFields(body: Body) {
    return {
      name: text(body, 'name').trim() || undefined,
      logo_uri: text(body, 'logo_uri').trim() || undefined,
      brand_color: text(body, 'brand_color').trim() || undefined,
      policy_uri: text(body, 'policy_uri').trim() || undefined,
      tos_uri: text(body, 'tos_uri').trim() || undefined,
      client_uri: text(body, 'client_uri').trim() || undefined,
      first_party: text(body, 'first_party') === 'on',
      redirect_uris: lines(text(body, 'redirect_uris')),
      post_logout_redirect_uris: lines(text(body, 'post_logout_redirect_uris')),
      grant_types: list(body, 'grant_types'),
      chain: text(body, 'chain'),
      scopes: text(body, 'scopes').split(/[\s,]+/).filter(Boolean),
      user_token_ttl: optionalInt(text(body, 'user_token_ttl')),
      app_token_ttl: optionalInt(text(body, 'app_token_ttl')),
      allow_non_expiring: text(body, 'allow_non_expiring') === 'on',
      app_token_format: text(body, 'app_token_format') || undefined,
      saml_idps: list(body, 'saml_idps'),
      admin_api: text(body, 'admin_api') === 'on',
      id_token_signed_response_alg: text(body, 'id_token_signed_response_alg') || undefined,
    };
  }

  router.get('/clients/new', page(async (ctx) => {
    await clientForm(ctx, { creating: true, values: { grant_types: ['authorization_code', 'refresh_token'], chain: 'password,totp', redirect_uris: [], post_logout_redirect_uris: [] } });
  }));

  router.post('/clients/new', form, page(async (ctx, me, body) => {
    const input = { client_id: text(body, 'client_id').trim(), public: text(body, 'public') === 'on', ...clientFields(body) };
    try {
      const result = await a.manage.clients.create(parse(a.manage.schemas.clientCreate, input), me.by);
      render(ctx, 'secret', { title: 'Client created', client: result.client, secret: result.client_secret }, 201);
    } catch (err) {
      if (!(err instanceof ManageError) || err.status === 404) throw err;
      await clientForm(ctx, { creating: true, values: input, issues: err.issues.length ? err.issues : [{ path: '', message: err.message }] }, err.status);
    }
  }));

  router.get('/clients/:id', page(async (ctx) => {
    render(ctx, 'client', { title: `Client ${ctx.params.id}`, client: await a.manage.clients.get(ctx.params.id!), protectedId: ADMIN_CLIENT_ID });
  }));

  router.get('/clients/:id/edit', page(async (ctx) => {
    const client = await a.manage.clients.get(ctx.params.id!);
    await clientForm(ctx, { creating: false, client, values: client });
  }));

  router.post('/clients/:id/edit', form, page(async (ctx, me, body) => {
    const client = await a.manage.clients.get(ctx.params.id!);
    const fields = clientFields(body);
    // An emptied optional field clears the setting (its default applies again).
    const input = { ...fields, user_token_ttl: fields.user_token_ttl ?? null, app_token_ttl: fields.app_token_ttl ?? null, logo_uri: fields.logo_uri ?? null,
      brand_color: fields.brand_color ?? null, policy_uri: fields.policy_uri ?? null, tos_uri: fields.tos_uri ?? null, client_uri: fields.client_uri ?? null };
    try {
      await a.manage.clients.update(client.client_id, parse(a.manage.schemas.clientUpdate, input), me.by);
      doneTo(ctx, clientUrl(client.client_id), 'client.saved');
    } catch (err) {
      if (!(err instanceof ManageError) || err.status === 404) throw err;
      await clientForm(ctx, { creating: false, client, values: { ...client, ...fields }, issues: err.issues.length ? err.issues : [{ path: '', message: err.message }] }, err.status);
    }
  }));

  destructive('/clients/:id/secret', {
    confirm: 'Issue a new secret',
    ask: async (ctx) => {
      const c = await a.manage.clients.get(ctx.params.id!);
      return { question: `Issue a new secret for ${c.client_id}?`, back: clientUrl(c.client_id),
        consequence: 'The current secret stops working at once: the application cannot redeem codes or get tokens until its configuration has the new one, which is shown once.' };
    },
  }, async (ctx, me) => {
    const result = await a.manage.clients.update(ctx.params.id!, { rotate_secret: true }, me.by);
    render(ctx, 'secret', { title: 'New client secret', client: result.client, secret: result.client_secret });
  });

  destructive('/clients/:id/delete', {
    confirm: 'Delete this client',
    ask: async (ctx) => {
      const c = await a.manage.clients.get(ctx.params.id!);
      // Refusals the service would give come before the question, not after the Confirm.
      if (c.client_id === ADMIN_CLIENT_ID) throw new ManageError(409, 'protected', `"${ADMIN_CLIENT_ID}" is the console's own client and cannot be deleted`);
      return { question: `Delete client ${c.client_id}?`, back: clientUrl(c.client_id),
        consequence: `This ends ${c.name}'s place at this broker: its users can no longer sign in to it, and its codes and tokens stop working. It cannot be undone; the client would have to be created again with a new secret.` };
    },
  }, async (ctx, me) => {
    await a.manage.clients.remove(ctx.params.id!, me.by);
    doneTo(ctx, '/admin/clients', 'client.deleted');
  });

  // ---- the chain editor --------------------------------------------------------------

  async function chainPage(ctx: Context, clientId: string, extra: { error?: string; draft?: string; tried?: Record<string, string>; simulation?: string; simulationError?: string } = {}, status = 200) {
    const client = await a.manage.clients.get(clientId);
    // A chain that no longer parses (it names a removed provider) offers every edit, so it can be repaired.
    let allowed: (edit: ChainEdit) => boolean = () => true;
    try {
      allowed = permits(parseChain(client.chain, a.runner.catalog), a.runner.catalog);
    } catch (err) {
      if (!(err instanceof ChainError)) throw err;
    }
    render(ctx, 'chain', {
      title: `Chain of ${client.client_id}`, client, authenticators: a.authenticatorList(), label: labels, allowed, ...extra,
    }, status);
  }

  router.get('/clients/:id/chain', page(async (ctx) => chainPage(ctx, ctx.params.id!)));

  // "Try it": what a user would face, and why (the simulator; changes nothing).
  router.post('/clients/:id/simulate', form, page(async (ctx, _me, body) => {
    const client = await a.manage.clients.get(ctx.params.id!);
    const tried = Object.fromEntries(['user', 'address', 'acr', 'max_age', 'session', 'remembered_device'].map((n) => [n, text(body, n)]));
    const input = {
      user: tried.user,
      remembered_device: tried.remembered_device === '1',
      ...(tried.address && { address: tried.address }),
      ...(tried.acr && { acr: tried.acr }),
      ...(tried.max_age && { max_age: /^\d{1,9}$/.test(tried.max_age) ? Number(tried.max_age) : -1 }),
      ...(tried.session && { session: tried.session }),
    };
    try {
      const simulation = await a.manage.clients.simulate(client.client_id, parse(a.manage.schemas.simulate, input));
      return chainPage(ctx, client.client_id, { tried, simulation: describeSimulation(simulation, labels) });
    } catch (err) {
      if (!(err instanceof ManageError) || err.status === 404) throw err;
      const issue = err.issues[0];
      return chainPage(ctx, client.client_id, { tried, simulationError: issue ? `${issue.path}: ${issue.message}` : err.message }, 400);
    }
  }));

  router.post('/clients/:id/chain', form, page(async (ctx, me, body) => {
    const client = await a.manage.clients.get(ctx.params.id!);
    // The page names the chain it was drawn from: an edit made against an older version
    // (another admin, another tab) would silently undo theirs.
    if (text(body, 'base') !== client.chain) {
      return chainPage(ctx, client.client_id, { error: 'The chain was changed by someone else since this page was loaded. Here it is as it is now; make your change again.' }, 409);
    }
    let next: string;
    try {
      next = text(body, 'edit') === 'replace' ? text(body, 'chain') : formatChain(editChain(parseChain(client.chain, a.runner.catalog), readEdit(body)));
      parseChain(next, a.runner.catalog);
    } catch (err) {
      if (!(err instanceof ChainEditError || err instanceof ChainError)) throw err;
      return chainPage(ctx, client.client_id, { error: `Not changed: ${err.message}`, draft: text(body, 'chain') }, 400);
    }
    try {
      await a.manage.clients.update(client.client_id, { chain: next }, me.by);
    } catch (err) {
      if (!(err instanceof ManageError)) throw err;
      return chainPage(ctx, client.client_id, { error: `Not changed: ${err.issues[0]?.message ?? err.message}` }, err.status);
    }
    doneTo(ctx, `${clientUrl(client.client_id)}/chain`, 'chain.saved');
  }));

  // ---- identity providers ------------------------------------------------------------

  router.get('/identity-providers', page(async (ctx) => {
    render(ctx, 'idps', { title: 'Identity providers', idps: await a.manage.idps.list() });
  }));

  const idpForm = (ctx: Context, locals: { creating: boolean; name?: string; values: Record<string, unknown>; issues?: { path: string; message: string }[] }, status = 200) =>
    render(ctx, 'idp-form', { title: locals.creating ? 'New identity provider' : `Edit ${locals.name}`, presets: Object.entries(PRESETS).map(([name, p]) => ({ name, label: p.displayName })), ...locals }, status);

  /** The fields both provider forms share, as API input; an empty field means "not given". */
  function idpFields(body: Body) {
    const scopes = text(body, 'scopes').split(/[\s,]+/).filter(Boolean);
    return {
      client_id: text(body, 'client_id').trim(),
      client_secret: text(body, 'client_secret') || undefined,
      display_name: text(body, 'display_name').trim() || undefined,
      scopes: scopes.length ? scopes : undefined,
      claim_mapping: Object.fromEntries(CLAIM_FIELDS.map((f) => [f, text(body, `claim_${f}`).trim()]).filter(([, claim]) => claim)),
      jit: text(body, 'jit') === 'on',
      trust_upstream_amr: text(body, 'trust_upstream_amr') === 'on',
      amr_map: Object.fromEntries(text(body, 'amr_map').split(/[\s,]+/).filter(Boolean).map((pair) => pair.split('=') as [string, string])),
    };
  }
  // A secret typed into a refused form is not sent back to the browser.
  const withoutSecret = <T extends { client_secret?: string }>(input: T) => ({ ...input, client_secret: undefined });

  router.get('/identity-providers/new', page(async (ctx) => {
    idpForm(ctx, { creating: true, values: {} });
  }));

  router.post('/identity-providers/new', form, page(async (ctx, me, body) => {
    const input = { name: text(body, 'name').trim(), preset: text(body, 'preset') || undefined, issuer: text(body, 'issuer').trim() || undefined, ...idpFields(body) };
    try {
      const idp = await a.manage.idps.create(parse(a.manage.schemas.idpCreate, input), me.by);
      doneTo(ctx, idpUrl(idp.name), 'idp.saved');
    } catch (err) {
      if (!(err instanceof ManageError)) throw err;
      idpForm(ctx, { creating: true, values: withoutSecret(input), issues: err.issues.length ? err.issues : [{ path: '', message: err.message }] }, err.status);
    }
  }));

  router.get('/identity-providers/:name', page(async (ctx) => {
    const idp = await a.manage.idps.get(ctx.params.name!);
    render(ctx, 'idp', { title: `Identity provider ${idp.name}`, idp });
  }));

  router.get('/identity-providers/:name/edit', page(async (ctx) => {
    const idp = await a.manage.idps.get(ctx.params.name!);
    idpForm(ctx, { creating: false, name: idp.name, values: idp });
  }));

  router.post('/identity-providers/:name/edit', form, page(async (ctx, me, body) => {
    const idp = await a.manage.idps.get(ctx.params.name!);
    const input = { issuer: text(body, 'issuer').trim() || undefined, ...idpFields(body) };
    try {
      await a.manage.idps.update(idp.name, parse(a.manage.schemas.idpUpdate, input), me.by);
      doneTo(ctx, idpUrl(idp.name), 'idp.saved');
    } catch (err) {
      if (!(err instanceof ManageError) || err.status === 404) throw err;
      idpForm(ctx, { creating: false, name: idp.name, values: withoutSecret({ ...idp, ...input }), issues: err.issues.length ? err.issues : [{ path: '', message: err.message }] }, err.status);
    }
  }));

  destructive('/identity-providers/:name/delete', {
    confirm: 'Delete this provider',
    ask: async (ctx) => {
      const p = await a.manage.idps.get(ctx.params.name!);
      if (p.used_by.length) throw new ManageError(409, 'in_use', inUseProblem(p.name, p.used_by));
      return { question: `Delete identity provider ${p.name}?`, back: idpUrl(p.name),
        consequence: `Nobody can sign in with ${p.display_name} any more. Linked identities are kept and work again if a provider of this name is added again.` };
    },
  }, async (ctx, me) => {
    await a.manage.idps.remove(ctx.params.name!, me.by);
    doneTo(ctx, '/admin/identity-providers', 'idp.deleted');
  });

  // ---- users -------------------------------------------------------------------------

  router.get('/users', page(async (ctx) => {
    const q = ctx.query as Body;
    const filters = { search: text(q, 'search').trim(), role: text(q, 'role').trim(), disabled: text(q, 'disabled') };
    const query = parse(a.manage.schemas.userQuery, { search: filters.search || undefined, role: filters.role || undefined, disabled: filters.disabled || undefined });
    render(ctx, 'users', { title: 'Users', users: await a.manage.users.list(query), values: {}, filters });
  }));

  router.post('/users', form, page(async (ctx, me, body) => {
    const input = {
      username: text(body, 'username'), email: text(body, 'email').trim() || null,
      password: text(body, 'password') || undefined,
      roles: text(body, 'admin') === 'on' ? ['admin'] : [], totp: text(body, 'totp') === 'on',
    };
    try {
      const result = await a.manage.users.create(parse(a.manage.schemas.userCreate, input), me.by);
      render(ctx, 'user-secret', { title: 'User created', user: result.user, totp: result.totp, qrSvg: result.totp && await qrSvg(result.totp.uri) }, 201);
    } catch (err) {
      if (!(err instanceof ManageError)) throw err;
      render(ctx, 'users', { title: 'Users', users: await a.manage.users.list(), filters: {}, values: { ...input, password: '' }, issues: err.issues.length ? err.issues : [{ path: '', message: err.message }] }, err.status);
    }
  }));

  router.get('/users/:id', page(async (ctx) => {
    const user = await a.manage.users.get(ctx.params.id!);
    render(ctx, 'user', { title: 'User', user, factors: await a.manage.users.factors(user.id), identities: await a.manage.users.identities(user.id), idps: await a.manage.idps.list() });
  }));

  /** The question about a user, naming the account as people know it. */
  const aboutUser = (verb: string, consequence: string) => async (ctx: Context) => {
    const u = await a.manage.users.get(ctx.params.id!);
    return { question: `${verb} ${u.username}?`, consequence, back: userUrl(u.id) };
  };
  router.post('/users/:id/edit', form, page(async (ctx, me, body) => {
    const roles = text(body, 'roles').split(/[\s,]+/).filter(Boolean);
    const email = text(body, 'email').trim() || null;
    // The box vouches for the address shown when the page was loaded: a changed address
    // stays unverified (its owner confirms it), whatever the box says.
    const vouched = email !== null && email === text(body, 'shown_email') ? { email_verified: text(body, 'email_verified') === 'yes' } : {};
    await a.manage.users.update(ctx.params.id!, parse(a.manage.schemas.userUpdate, { email, roles, ...vouched }), me.by);
    doneTo(ctx, userUrl(ctx.params.id!), 'user.saved');
  }));
  destructive('/users/:id/delete', {
    confirm: 'Delete this user',
    ask: aboutUser('Delete', 'The account, its sign-in methods and linked identities are removed, and its sessions and tokens end at once. It cannot be undone.'),
  }, async (ctx, me) => {
    await a.manage.users.remove(ctx.params.id!, me.by);
    doneTo(ctx, '/admin/users', 'user.deleted');
  });
  destructive('/users/:id/disable', {
    confirm: 'Disable the account',
    ask: aboutUser('Disable', 'The account can no longer sign in, and its sessions and tokens end at once. Enabling it later lets it sign in again.'),
  }, async (ctx, me) => {
    await a.manage.users.setDisabled(ctx.params.id!, true, me.by);
    doneTo(ctx, userUrl(ctx.params.id!), 'user.disabled');
  });
  destructive('/users/:id/sign-out', {
    confirm: 'Sign out everywhere',
    ask: aboutUser('Sign out', 'Every session, grant and token of the account ends at once, and the applications it signed in to are told (back-channel logout). The user may sign in again right away.'),
  }, async (ctx, me) => {
    await a.manage.users.signOut(ctx.params.id!, me.by);
    doneTo(ctx, userUrl(ctx.params.id!), 'user.signed_out');
  });
  router.post('/users/:id/enable', form, page(async (ctx, me) => {
    await a.manage.users.setDisabled(ctx.params.id!, false, me.by);
    doneTo(ctx, userUrl(ctx.params.id!), 'user.enabled');
  }));
  router.post('/users/:id/unlock', form, page(async (ctx, me) => {
    await a.manage.users.unlock(ctx.params.id!, me.by);
    doneTo(ctx, userUrl(ctx.params.id!), 'user.unlocked');
  }));
  destructive('/users/:id/password', {
    confirm: 'Reset the password',
    ask: aboutUser('Reset the password of', 'The current password stops working at once, and browsers remembered for the account are forgotten. The new password is shown once.'),
    inputs: [{ name: 'password', label: 'New password', type: 'password', hint: 'leave empty to generate one', autocomplete: 'new-password' }],
  }, async (ctx, me, body) => {
    const input = parse(a.manage.schemas.passwordReset, { password: text(body, 'password') || undefined });
    const result = await a.manage.users.resetPassword(ctx.params.id!, input.password, me.by);
    render(ctx, 'user-secret', { title: 'Password reset', user: result.user, password: result.password });
  });
  destructive('/users/:id/totp', {
    confirm: 'Reset TOTP',
    ask: aboutUser('Reset the TOTP of', 'A new secret is issued and shown once; the authenticator app the user has now stops working until the new secret is entered in it.'),
  }, async (ctx, me) => {
    const result = await a.manage.users.resetTotp(ctx.params.id!, me.by);
    render(ctx, 'user-secret', { title: 'TOTP reset', user: result.user, totp: result.totp, qrSvg: await qrSvg(result.totp.uri) });
  });
  destructive('/users/:id/factors/:factorId/remove', {
    confirm: 'Remove it',
    ask: async (ctx) => {
      const u = await a.manage.users.get(ctx.params.id!);
      const factor = (await a.manage.users.factors(u.id)).factors.find((f) => f.id === ctx.params.factorId);
      if (!factor) throw new ManageError(404, 'not_found', `${u.username} has no sign-in method "${ctx.params.factorId}"`);
      const what = factor.type === 'totp' ? 'the authenticator app' : `the passkey "${factor.label}"`;
      return { question: `Remove ${what} of ${u.username}?`, back: userUrl(u.id),
        consequence: 'It no longer signs in; the user is told by mail. If it is the last second factor, the recovery codes go with it.' };
    },
  }, async (ctx, me) => {
    const result = await a.manage.users.removeFactor(ctx.params.id!, ctx.params.factorId!, me.by);
    const codes = result.recovery_codes_removed ? ` It was the last second factor, so the ${result.recovery_codes_removed} recovery codes left were removed too.` : '';
    render(ctx, 'message', {
      title: 'Sign-in method removed', message: `${result.removed.type === 'totp' ? 'The authenticator app' : `The passkey "${result.removed.label}"`} of ${result.user.username} was removed; the user is told by mail (at a confirmed address).${codes}`,
      link: userUrl(result.user.id), linkText: 'Back to the user',
    });
  });
  router.post('/users/:id/require-enrolment', form, page(async (ctx, me, body) => {
    const { required } = parse(a.manage.schemas.enrolmentRequirement, { required: text(body, 'required') !== 'no' });
    await a.manage.users.requireEnrolment(ctx.params.id!, required, me.by);
    doneTo(ctx, userUrl(ctx.params.id!), required ? 'user.enrolment_required' : 'user.enrolment_not_required');
  }));
  destructive('/users/:id/recovery-codes', {
    confirm: 'Issue new recovery codes',
    ask: aboutUser('Issue new recovery codes for', 'Ten new codes are shown once, to hand to the user; the codes the user has now stop working.'),
  }, async (ctx, me) => {
    const result = await a.manage.users.generateRecoveryCodes(ctx.params.id!, me.by);
    render(ctx, 'user-secret', { title: 'Recovery codes', user: result.user, codes: result.codes });
  });

  router.post('/users/:id/identities', form, page(async (ctx, me, body) => {
    await a.manage.users.link(ctx.params.id!, parse(a.manage.schemas.identityLink, { idp: text(body, 'idp'), subject: text(body, 'subject').trim() }), me.by);
    doneTo(ctx, `${userUrl(ctx.params.id!)}#identities`, 'identity.linked');
  }));
  destructive('/users/:id/identities/unlink', {
    confirm: 'Unlink',
    carry: ['idp', 'subject'],
    ask: async (ctx, { idp, subject }) => {
      const u = await a.manage.users.get(ctx.params.id!);
      if (!idp || !subject) throw new ManageError(400, 'invalid_request', `Which identity? Choose "Unlink" beside it on ${u.username}'s page.`);
      const link = (await a.manage.users.identities(u.id)).find((l) => l.idp === idp && l.subject === subject);
      if (!link) throw new ManageError(404, 'not_found', `${u.username} has no identity "${subject}" at "${idp}"`);
      return { question: `Unlink ${idp} identity ${subject} from ${u.username}?`, back: `${userUrl(u.id)}#identities`,
        consequence: `Signing in at ${idp} as ${subject} no longer signs in as ${u.username}, nor satisfies a ${idp} step after a local one.` };
    },
  }, async (ctx, me, body) => {
    await a.manage.users.unlink(ctx.params.id!, text(body, 'idp'), text(body, 'subject'), me.by);
    doneTo(ctx, `${userUrl(ctx.params.id!)}#identities`, 'identity.unlinked');
  });

  // ---- SAML IdPs ---------------------------------------------------------------------

  const samlIdps = async (ctx: Context, values: Record<string, unknown> = {}, issues?: { path: string; message: string }[], status = 200) =>
    render(ctx, 'saml-idps', { title: 'SAML IdPs', idps: await a.manage.samlIdps.list(), values, issues }, status);
  router.get('/saml-idps', page(async (ctx) => samlIdps(ctx)));
  router.post('/saml-idps', form, page(async (ctx, me, body) => {
    const input = { name: text(body, 'name').trim(), issuer: text(body, 'issuer').trim(), certificate: text(body, 'certificate') };
    try {
      await a.manage.samlIdps.create(parse(a.manage.schemas.samlIdpCreate, input), me.by);
      doneTo(ctx, '/admin/saml-idps', 'saml-idp.saved');
    } catch (err) {
      if (!(err instanceof ManageError)) throw err;
      await samlIdps(ctx, input, err.issues.length ? err.issues : [{ path: '', message: err.message }], err.status);
    }
  }));
  destructive('/saml-idps/:name/delete', {
    confirm: 'Stop trusting it',
    ask: async (ctx) => {
      const i = await a.manage.samlIdps.get(ctx.params.name!);
      if (i.used_by.length) throw new ManageError(409, 'in_use', `SAML IdP "${i.name}" is accepted by ${i.used_by.join(', ')}: remove it from their saml_idps first`);
      return { question: `Stop trusting SAML IdP ${i.name}?`, back: '/admin/saml-idps',
        consequence: `Assertions signed by ${i.issuer} can no longer be exchanged for tokens.` };
    },
  }, async (ctx, me) => {
    await a.manage.samlIdps.remove(ctx.params.name!, me.by);
    doneTo(ctx, '/admin/saml-idps', 'saml-idp.deleted');
  });

  // ---- signing keys ------------------------------------------------------------------

  router.get('/keys', page(async (ctx) => {
    render(ctx, 'keys', { title: 'Signing keys', keys: await a.manage.keys.list(), overlapDays: (await a.manage.keys.overlapSeconds()) / 86_400 });
  }));
  router.post('/keys/rotate', form, page(async (ctx, me, body) => {
    await a.manage.keys.rotate(parse(a.manage.schemas.keyRotate, { alg: text(body, 'alg') || undefined }).alg, me.by);
    doneTo(ctx, '/admin/keys', 'keys.rotated');
  }));
  destructive('/keys/:kid/retire', {
    confirm: 'Retire the key',
    ask: async (ctx) => {
      const key = (await a.manage.keys.list()).find((k) => k.kid === ctx.params.kid);
      if (!key) throw new ManageError(404, 'not_found', `no signing key "${ctx.params.kid}"`);
      return { question: `Retire signing key ${key.kid}?`, back: '/admin/keys',
        consequence: `The ${key.alg} key is no longer published at /jwks: tokens it signed stop verifying at relying parties and gateways.` };
    },
  }, async (ctx, me) => {
    await a.manage.keys.retire(ctx.params.kid!, me.by);
    doneTo(ctx, '/admin/keys', 'key.retired');
  });

  // ---- audit log ---------------------------------------------------------------------

  router.get('/audit', page(async (ctx) => {
    const q = ctx.query as Body;
    const users = await a.users.list();
    const names = new Map(users.map((u) => [`user:${u.id}`, u.username]));
    // The actor filter takes a username as people know it, or a raw "user:<id>" / "api:<client>" / "cli:<os user>".
    const actorInput = text(q, 'actor').trim();
    const actor = actorInput === '' ? undefined : actorInput.includes(':') ? actorInput : `user:${users.find((u) => u.username === actorInput.toLowerCase())?.id ?? 'none'}`;
    const filters = { kind: text(q, 'kind'), actor: actorInput, client: text(q, 'client'), from: text(q, 'from'), to: text(q, 'to') };
    let events: AuditPage['events'] = [];
    let next: number | null = null;
    let issues: { path: string; message: string }[] | undefined;
    try {
      const parsed = parse(a.manage.schemas.auditQuery, {
        kind: filters.kind || undefined, actor, client: filters.client || undefined,
        from: isoTime(filters.from), to: isoTime(filters.to), before: text(q, 'before') || undefined,
      });
      ({ events, next_before: next } = await a.manage.audit.list({ ...parsed, limit: 50 }));
    } catch (err) {
      if (!(err instanceof ManageError)) throw err;
      issues = err.issues;
    }
    const older = next === null ? undefined : `/admin/audit?${new URLSearchParams({ ...filters, before: String(next) })}`;
    render(ctx, 'audit', { title: 'Audit log', events, filters, issues, older, readable: readableDetails, nameOf: (actorId: string | null) => (actorId && names.get(actorId)) ?? actorId ?? '' }, issues ? 400 : 200);
  }));

  return router;
}

/** The editor's buttons say what they do in their value: "remove-option:1:0", "move-step:0:1". */
function readEdit(body: Body): ChainEdit {
  const [op, a, b, c] = text(body, 'edit').split(':');
  const n = (v: string | undefined) => {
    const x = Number(v);
    if (!Number.isInteger(x) || x < 0) throw new ChainEditError('the form asked for a step that does not exist');
    return x;
  };
  const dir = (v: string | undefined): -1 | 1 => (v === '-1' ? -1 : 1);
  switch (op) {
    case 'add-step': return { op, authenticator: text(body, 'new-step') };
    case 'remove-step': return { op, step: n(a) };
    case 'move-step': return { op, step: n(a), by: dir(b) };
    case 'add-option': return { op, step: n(a), authenticator: text(body, `new-option-${n(a)}`) };
    case 'remove-option': return { op, step: n(a), option: n(b) };
    case 'move-option': return { op, step: n(a), option: n(b), by: dir(c) };
    default: throw new ChainEditError('unknown edit');
  }
}
