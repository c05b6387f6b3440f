import type { TokenGrantDeps } from './index.ts';
import type Provider from 'oidc-provider';
import { errors, type KoaContextWithOIDC } from 'oidc-provider';
import grantableScopes from './scopes.ts';
import issueUserTokens from './issue-user-tokens.ts';
import { invalidGrant, refusal } from './errors.ts';
import { metadataOf } from '../provider/client-metadata.ts';

import { SAML2_BEARER_GRANT } from './grant-types.ts';

export { SAML2_BEARER_GRANT };

/** Clock skew tolerated between the IdP and this server. */
const SKEW_SECONDS = 60;

/**
 * The SAML 2.0 bearer assertion grant (RFC 7522): an assertion signed by a trusted IdP
 * (`stepgate saml-idp add`) is exchanged, once, for tokens for the user its NameID names
 * — by username, never by email. The assertion stands for the first step of the client's
 * chain; later steps still apply (TOTP through the `totp` parameter), and a chain that
 * needs a browser refuses the grant.
 */
export function registerSaml2BearerGrant(provider: Provider, deps: TokenGrantDeps): void {
  async function saml2BearerGrant(ctx: KoaContextWithOIDC): Promise<void> {
    const params = ctx.oidc.params as Record<string, string | undefined>;
    if (!params.assertion) throw new errors.InvalidRequest("missing required parameter 'assertion'");
    const clientId = ctx.oidc.client!.clientId;
    // The assertion is the chain's first, identifying step: audited and counted as one.
    const report = (outcome: 'success' | 'failure', reason?: string, accountId?: string) => deps.events.authStep({
      clientId, authenticator: 'saml2-bearer', step: 0, outcome, address: ctx.ip, door: 'saml2_bearer',
      ...(reason && { reason }), ...(accountId && { accountId }),
    });
    const refuse = (reason: string, description: string, accountId?: string) => {
      report('failure', reason, accountId);
      return invalidGrant(description);
    };
    // The XML signature stack (xml-crypto, @xmldom) is loaded at the first assertion: most deployments never see one.
    const { default: verifyAssertion, AssertionError } = await import('../saml/verify-assertion.ts');
    let verified;
    try {
      verified = await verifyAssertion(params.assertion, {
        certificateFor: async (issuer) => (await deps.samlIdps.byIssuer(issuer))?.certificate,
        audiences: [deps.tokenEndpoint, provider.issuer],
        recipient: deps.tokenEndpoint,
        skewSeconds: SKEW_SECONDS,
      });
    } catch (err) {
      if (err instanceof AssertionError) throw refuse('invalid_assertion', err.message);
      throw refuse('invalid_assertion', 'assertion is not well-formed XML');
    }
    // Trust is per client: an IdP trusted for one application does not speak for the others.
    const idp = await deps.samlIdps.byIssuer(verified.issuer);
    const accepted = metadataOf(ctx.oidc.client!).saml_idps;
    if (!idp || !Array.isArray(accepted) || !accepted.includes(idp.name)) {
      throw refuse('untrusted_idp', `this client does not accept assertions from ${idp ? `the SAML IdP "${idp.name}"` : 'this issuer'}; an admin can allow it with stepgate client update --saml-idps`);
    }
    if (!(await deps.samlIdps.useAssertion(verified.issuer, verified.id, verified.expiresAt))) {
      throw refuse('replayed', 'assertion has already been used');
    }
    const user = await deps.users.byUsername(verified.nameId);
    if (!user || user.disabled) throw refuse('unknown_user', 'the assertion names no user of this server', user?.id);
    // A trusted SAML IdP is trusted for every client that takes the grant; it is not
    // trusted to speak for the broker's administrators.
    if (user.roles.includes('admin')) throw refuse('admin_refused', 'an administrator cannot be named by a SAML assertion; sign in through the browser', user.id);
    report('success', undefined, user.id);

    const outcome = await deps.runner.satisfyDirectly(clientId, {
      totp: params.totp ? { code: params.totp } : undefined,
    }, ctx.ip, { accountId: user.id, amr: ['fed'], by: 'saml2-bearer' }, 'saml2_bearer');
    if (outcome.kind === 'refused') throw refusal(outcome, 'SAML2 bearer');
    const account = await deps.findAccount(ctx, user.id);
    if (!account) throw invalidGrant('the user is unknown or disabled');
    await issueUserTokens(ctx, account, outcome.result.login, grantableScopes(ctx), SAML2_BEARER_GRANT);
  }
  provider.registerGrantType(SAML2_BEARER_GRANT, saml2BearerGrant, ['assertion', 'scope', 'totp']);
}
