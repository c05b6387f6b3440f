import type Provider from 'oidc-provider';
import type { Account, KoaContextWithOIDC } from 'oidc-provider';
import type { ChainRunner } from '../flow/runner.ts';
import type { Database } from '../storage/database.ts';
import { registerPasswordGrant } from './password.ts';

/** The custom grants of the token API, registered on oidc-provider. */
export function registerTokenGrants(provider: Provider, deps: {
  runner: ChainRunner;
  findAccount: (ctx: KoaContextWithOIDC, sub: string) => Promise<Account | undefined>;
  db: Database;
  issuer: string;
}): void {
  registerPasswordGrant(provider, deps);
}
