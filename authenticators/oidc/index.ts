import type { Authenticator, StepContext, StepResult } from '../../server/flow/contract.ts';
import type { IdentityProvider, IdentityProviders } from '../../server/federation/identity-providers.ts';
import type { LinkedIdentities } from '../../server/federation/linked-identities.ts';
import { resolveExternalIdentity, FAILED_VIEW } from '../../server/federation/resolve.ts';
import type { Users } from '../../server/storage/users.ts';
import { UpstreamError, type PendingLogin, type UpstreamClients } from '../../server/federation/upstream.ts';

export type OidcDeps = { users: Users; links: LinkedIdentities; upstream: UpstreamClients };

/**
 * A step at an upstream OpenID Connect provider (Yahoo, Google, Microsoft, another
 * stepgate), one instance per stored provider, named like it. `start` sends the browser
 * upstream; `resume` takes the callback, verifies it and decides who the user is
 * (server/federation/resolve.ts). The pending state, nonce and PKCE verifier live in the
 * step's private state and are consumed by the first callback.
 */
export function createOidcAuthenticator(idp: IdentityProvider, deps: OidcDeps): Authenticator {
  const { upstream } = deps;
  return {
    id: idp.name,
    label: `Sign in with ${idp.displayName}`,
    requiresUser: false,
    amr: ['fed'],

    // As a verifying step (a user already identified), only an account linked at this
    // provider can pass: say so before sending the user upstream for nothing.
    async configuredFor(accountId: string) {
      return (await deps.links.forAccount(accountId)).some((link) => link.idpName === idp.name);
    },

    async start(step: StepContext): Promise<StepResult> {
      try {
        const { url, pending } = await upstream.authorizationUrl(idp);
        step.state.pending = pending;
        return { kind: 'redirect', location: url };
      } catch (err) {
        return failure(err);
      }
    },

    async resume(step: StepContext): Promise<StepResult> {
      const pending = step.state.pending as PendingLogin | undefined;
      delete step.state.pending;
      if (!pending) return { kind: 'failure', error: { code: 'no_pending_login', message: `This ${idp.displayName} response was already used. Try again.` }, view: FAILED_VIEW };
      try {
        const mapping = { username: 'preferred_username', email: 'email', ...idp.claimMapping };
        const identity = await upstream.complete(idp, step.input, pending, [mapping.username, mapping.email]);
        const claim = (name: string) => (typeof identity.claims[name] === 'string' ? identity.claims[name] as string : undefined);
        return await resolveExternalIdentity(deps, {
          accountId: step.accountId,
          identity: { idpName: idp.name, issuer: identity.issuer, subject: identity.subject },
          displayName: idp.displayName,
          jit: idp.jit,
          upstream: {
            ...(identity.acr ? { acr: identity.acr } : {}),
            ...(identity.amr ? { amr: identity.amr } : {}),
            // only a provider an admin trusts speaks for how the user signed in upstream
            ...(identity.amr && idp.trustUpstreamAmr ? { trustedAmr: [...new Set(identity.amr.map((m) => idp.amrMap?.[m] ?? m))] } : {}),
          },
          profile: { username: claim(mapping.username), email: claim(mapping.email) },
        });
      } catch (err) {
        return failure(err);
      }
    },
  };
}

function failure(err: unknown): StepResult {
  if (err instanceof UpstreamError) return { kind: 'failure', error: err.error, view: FAILED_VIEW };
  throw err;
}

/**
 * One `oidc` authenticator per stored identity provider, read fresh so CLI changes apply at
 * once. The list is cached until the table changes (same objects), and so are the
 * authenticators made from it.
 */
export function storedIdentityProviders(idps: IdentityProviders, deps: OidcDeps): () => Promise<Authenticator[]> {
  const made = new WeakMap<IdentityProvider, Authenticator>();
  return async () => (await idps.list()).map((idp) => {
    let authenticator = made.get(idp);
    if (!authenticator) made.set(idp, authenticator = createOidcAuthenticator(idp, deps));
    return authenticator;
  });
}
