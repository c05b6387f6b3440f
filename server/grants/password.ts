import type Provider from 'oidc-provider';
import { errors, type Account, type KoaContextWithOIDC } from 'oidc-provider';
import type { ChainRunner } from '../flow/runner.ts';
import { invalidGrant, refusal } from './errors.ts';
import grantableScopes from './scopes.ts';
import issueUserTokens from './issue-user-tokens.ts';

export const PASSWORD_GRANT = 'password';

type FindAccount = (ctx: KoaContextWithOIDC, sub: string) => Promise<Account | undefined>;

/**
 * The resource owner password grant (RFC 6749 section 4.3) as WSO2 API Manager users
 * know it: `grant_type=password&username=..&password=..&scope=..`, plus `totp` when the
 * client's chain has a TOTP step. It is the client's chain that decides, run by the same
 * runner and authenticators as the login pages (lockout, single-use codes, one subject);
 * a chain with a step that needs a browser refuses it.
 */
export function registerPasswordGrant(provider: Provider, deps: { runner: ChainRunner; findAccount: FindAccount }): void {
  async function passwordGrant(ctx: KoaContextWithOIDC): Promise<void> {
    const params = ctx.oidc.params as Record<string, string | undefined>;
    for (const name of ['username', 'password'] as const) {
      if (!params[name]) throw new errors.InvalidRequest(`missing required parameter '${name}'`);
    }
    const outcome = await deps.runner.satisfyDirectly(ctx.oidc.client!.clientId, {
      password: { username: params.username!, password: params.password! },
      totp: params.totp ? { code: params.totp } : undefined,
    }, ctx.ip, undefined, 'password_grant');
    if (outcome.kind === 'refused') throw refusal(outcome, PASSWORD_GRANT);
    const account = await deps.findAccount(ctx, outcome.result.login.accountId);
    if (!account) throw invalidGrant('the user is unknown or disabled');
    await issueUserTokens(ctx, account, outcome.result.login, grantableScopes(ctx), PASSWORD_GRANT);
  }
  provider.registerGrantType(PASSWORD_GRANT, passwordGrant, ['username', 'password', 'scope', 'totp']);
}
