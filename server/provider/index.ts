import Provider, { type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import type { JWK } from 'jose';
import type { Config } from '../../config/index.ts';
import type { Keyring } from '../security/keyring.ts';
import { CookieSigner } from '../security/cookie-signer.ts';
import type { Users } from '../storage/users.ts';
import type { ChainRunner } from '../flow/runner.ts';
import { ACR_MULTI, ACR_SINGLE } from '../flow/plan.ts';
import type { Views } from '../views.ts';
import { createPolicy } from './policy.ts';
import type { CookieOptions } from './rotate-interaction.ts';
import { findAccountIn } from './accounts.ts';
import { apiResource } from './api-resource.ts';
import { introspection, nameRefreshTokenType } from './introspection.ts';
import { explainLogoutError, isLogoutRoute, logoutHint } from './logout.ts';
import { TOKEN_ENDPOINT_AUTH_METHODS, type Clients } from '../storage/clients.ts';
import type { Outbound } from '../security/outbound.ts';
import type { Services } from '../services.ts';
import { createAdapter } from '../storage/oidc-adapter.ts';
import { findClientsByRecord } from './client-lookup.ts';

/** Whether a client that registered `url` (its jwks_uri or back-channel logout URI) may be reached on a private network. */
async function privateNetworkAllowed(clients: Clients, url: string): Promise<boolean> {
  const href = (value: string | undefined) => (value && URL.canParse(value) ? new URL(value).href : undefined);
  return (await clients.list()).some((c) => c.settings.allowPrivateNetwork === true
    && [href(c.settings.jwksUri), href(c.settings.backchannelLogoutUri)].includes(url));
}
import { OIDC_SCOPES } from '../grants/scopes.ts';
import tokenLifetime, { clientTokenMetadata } from './token-lifetimes.ts';
import { metadataOf } from './client-metadata.ts';

type Deps = {
  config: Config;
  clients: Clients;
  outbound: Outbound;
  keyring: Keyring;
  adapter: NonNullable<Configuration['adapter']>;
  jwks: { keys: JWK[] };
  users: Users;
  runner: ChainRunner;
  views: Views;
};

/**
 * oidc-provider's default (the grant the user consented to), except for first-party
 * clients (`first_party`, the admin console among them): their grant is extended to what
 * they request, so the consent prompt finds nothing missing and is never shown.
 */
async function firstPartyGrant(ctx: KoaContextWithOIDC) {
  const { oidc } = ctx;
  const client = oidc.client!;
  const session = oidc.session!;
  const result = oidc.result as { consent?: { grantId?: string } } | undefined;
  const grantId = result?.consent?.grantId || session.grantIdFor(client.clientId);
  const existing = grantId ? await oidc.provider.Grant.find(grantId) : undefined;
  if (metadataOf(client).first_party !== true || !session.accountId) return existing;
  const grant = existing ?? new oidc.provider.Grant({ clientId: client.clientId, accountId: session.accountId });
  grant.addOIDCScope([...oidc.requestParamOIDCScopes].join(' '));
  grant.addOIDCClaims([...oidc.requestParamClaims]);
  for (const [indicator, server] of Object.entries(oidc.resourceServers ?? {})) {
    grant.addResourceScope(indicator, [...oidc.requestParamScopes].filter((s) => server.scopes.has(s)).join(' '));
  }
  await grant.save();
  return grant;
}

/**
 * oidc-provider, configured: the protocol (discovery, /authorize, /token, PKCE, refresh
 * rotation, revocation, introspection, id_token, userinfo, logout) is its job; we give it
 * storage, keys, accounts, the interaction policy and our pages.
 */
/** Every cookie of the broker: signed, HttpOnly, SameSite=Lax, Secure when the issuer is https. */
export function cookieOptions(config: Config): CookieOptions {
  return { signed: true, httpOnly: true, sameSite: 'lax', secure: config.issuer.startsWith('https://') };
}

export function createProvider(deps: Deps): Provider {
  const { config, keyring, adapter, jwks, users, runner, views, clients, outbound } = deps;
  const cookies = cookieOptions(config);

  const provider = new Provider(config.issuer, {
    adapter,
    jwks,
    cookies: { keys: new CookieSigner(keyring.derive('stepgate cookies')) as never, long: cookies, short: cookies },
    routes: {
      authorization: '/authorize',
      token: '/token',
      revocation: '/revoke',
      introspection: '/introspect',
      userinfo: '/userinfo',
      end_session: '/logout',
      jwks: '/jwks',
    },
    responseTypes: ['code'],
    // exactly the methods a client can be registered with (server/storage/clients.ts)
    clientAuthMethods: ['none', ...TOKEN_ENDPOINT_AUTH_METHODS],
    // `first_party`: the operator's own application, which asks no consent (firstPartyGrant)
    extraClientMetadata: { properties: [...clientTokenMetadata.properties!, 'first_party'] },
    // "admin": the admin API's scope; holding it is not enough (see server/admin/principal.ts)
    scopes: [...OIDC_SCOPES, 'admin'],
    claims: { acr: null, amr: null, auth_time: null, sid: null, openid: ['sub', 'acr', 'amr', 'auth_time'], profile: ['preferred_username', 'name'], email: ['email', 'email_verified'] },
    acrValues: [ACR_SINGLE, ACR_MULTI],
    clientDefaults: { id_token_signed_response_alg: 'RS256', token_endpoint_auth_method: 'client_secret_basic', grant_types: ['authorization_code', 'refresh_token'] },
    enabledJWA: {
      idTokenSigningAlgValues: ['RS256', 'ES256', 'EdDSA'],
      userinfoSigningAlgValues: ['RS256', 'ES256', 'EdDSA'],
    },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      // application tokens carry the client's API scopes (server/provider/api-resource.ts)
      resourceIndicators: apiResource(config.issuer),
      introspection,
      // single logout: clients register backchannel_logout_uri (server/provider/logout.ts)
      backchannelLogout: { enabled: true },
      // RFC 9126 at /request, required for a client set --require-par
      pushedAuthorizationRequests: { enabled: true },
      // RFC 9449, required for a client set --require-dpop
      dPoP: { enabled: true },
      revocation: {
        enabled: true,
        // RFC 7009: a client may revoke only its own tokens; another client's token is
        // left alone and the answer is the same 200, so nothing is learned from it.
        async allowedPolicy(_ctx, client, token) {
          return token.clientId === client.clientId;
        },
      },
      userinfo: { enabled: true },
      // lets a relying party demand an acr ({"id_token":{"acr":{"essential":true,"value":…}}}):
      // the chain's plan raises its target level, or the login ends in unmet_authentication_requirements;
      // and asks for sid ({"id_token":{"sid":null}})
      claimsParameter: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        async logoutSource(ctx, form) {
          ctx.type = 'html';
          ctx.body = views.render('views/logout', { form });
        },
        async postLogoutSuccessSource(ctx) {
          ctx.type = 'html';
          ctx.body = views.render('views/logged-out', {});
        },
      },
    },
    ttl: {
      // per client (stepgate client update --user-token-ttl / --app-token-ttl)
      AccessToken: (_ctx, _token, client) => tokenLifetime(client, 'user', config.ttl.accessToken),
      AuthorizationCode: config.ttl.authorizationCode,
      ClientCredentials: (_ctx, _token, client) => tokenLifetime(client, 'app', config.ttl.clientCredentials),
      IdToken: config.ttl.idToken,
      Interaction: config.ttl.interaction,
      Session: config.ttl.session,
      // a grant outlives its tokens: a never-expiring token keeps its grant
      Grant: (ctx) => ctx?.oidc.client ? Math.max(config.ttl.refreshToken, tokenLifetime(ctx.oidc.client, 'user', config.ttl.accessToken)) : config.ttl.refreshToken,
      RefreshToken(_ctx, _token, client) {
        // Public clients: a refresh token lives no longer than its session would.
        if (client.clientAuthMethod === 'none') return Math.min(config.ttl.refreshToken, config.ttl.session * 3);
        return config.ttl.refreshToken;
      },
    },
    // Application tokens name their client as subject, as the JWT form does (`sub` =
    // client_id): gateways such as mod_oauth2 need a subject to accept a token.
    async extraTokenClaims(_ctx, token) {
      return token.kind === 'ClientCredentials' ? { sub: token.clientId } : undefined;
    },
    // A login's tokens end with its browser session (at sign-out, its grant is revoked)
    // unless offline_access was asked for, or always when the client is set to end its
    // grants at sign-out (--logout-ends-grants).
    async expiresWithSession(ctx, code) {
      return (ctx.oidc.client !== undefined && metadataOf(ctx.oidc.client).logout_ends_grants === true) || !code.scopes.has('offline_access');
    },
    // Every client allowed the refresh_token grant gets one, rotated on each use.
    async issueRefreshToken(_ctx, client) {
      return client.grantTypeAllowed('refresh_token');
    },
    rotateRefreshToken: true,
    interactions: {
      url: (_ctx, interaction) => `/interaction/${interaction.uid}`,
      policy: createPolicy(runner),
    },
    findAccount: findAccountIn(users, runner),
    loadExistingGrant: firstPartyGrant,
    // oidc-provider calls out only to addresses an admin registered on a client (jwks_uri,
    // backchannel_logout_uri; dynamic registration and request_uri are off). Those calls go
    // through the outbound policy (server/security/outbound.ts): public addresses only,
    // unless the client registering the URL is allowed private networks (intranet apps).
    async fetch(url, options) {
      const init = options as RequestInit;
      const target = { allowPrivateNetwork: await privateNetworkAllowed(clients, String(url)) };
      return outbound.fetch(target)(String(url), {
        method: init.method ?? 'GET', headers: Object.fromEntries(new Headers(init.headers)), body: init.body, ...(init.signal ? { signal: init.signal } : {}),
      });
    },
    async renderError(ctx: KoaContextWithOIDC, out, _error) {
      ctx.type = 'html';
      if (isLogoutRoute(ctx)) {
        ctx.body = views.render('views/error', {
          title: 'Sign-out failed', heading: 'We could not sign you out',
          message: explainLogoutError(String(out.error), out.error_description), code: out.error, hint: logoutHint(config.issuer),
        });
        return;
      }
      ctx.body = views.render('views/error', { code: String(out.error) });
    },
  });
  provider.use(nameRefreshTokenType);
  findClientsByRecord(provider, clients);
  // Behind trusted proxies X-Forwarded-Proto and -Host are believed (secure cookies, issuer
  // checks); the client address is read by middleware/client-address.ts, not by Koa.
  provider.proxy = config.trustedProxies !== '' && config.trustedProxies !== '0';
  return provider;
}

/**
 * oidc-provider for `services`, configured from storage (clients, signing keys) as the
 * server's is. The server mounts its routes on it; the CLI uses one without listening, to
 * sign and send back-channel logout tokens exactly as the server would (see
 * server/cli/index.ts).
 */
export async function providerFor(services: Services, views: Views): Promise<Provider> {
  const { config, keyring, db, users, clients, runner, outbound, signingKeys } = services;
  return createProvider({
    config, keyring, users, runner, views, clients, outbound,
    adapter: createAdapter(db, keyring, clients),
    jwks: await signingKeys.jwks(),
  });
}
