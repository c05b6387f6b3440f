import type Provider from 'oidc-provider';
import type { Account, KoaContextWithOIDC } from 'oidc-provider';
import type { ChainRunner } from '../flow/runner.ts';
import type { Users } from '../storage/users.ts';
import type { SamlIdps } from '../storage/saml-idps.ts';
import type { FlowEvents } from '../observability/events.ts';
import { registerPasswordGrant } from './password.ts';
import { registerSaml2BearerGrant } from './saml2-bearer.ts';

/** The custom grants of the token API (password, SAML2 bearer), registered on oidc-provider. */
export type TokenGrantDeps = {
  runner: ChainRunner;
  users: Users;
  samlIdps: SamlIdps;
  findAccount: (ctx: KoaContextWithOIDC, sub: string) => Promise<Account | undefined>;
  tokenEndpoint: string;
  /** where every step's outcome is reported (audit log, metrics), as at the login pages */
  events: FlowEvents;
};

export function registerTokenGrants(provider: Provider, deps: TokenGrantDeps): void {
  registerPasswordGrant(provider, deps);
  registerSaml2BearerGrant(provider, deps);
}
