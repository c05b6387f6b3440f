import { parseChain, type AuthenticatorCatalog } from '../flow/chain.ts';
import { PRESETS, IDP_NAME, checkIssuer, type ClaimMapping } from './identity-providers.ts';

/**
 * The rules an identity provider's settings follow, whoever writes them: the CLI
 * (`stepgate idp add`) and the admin API and console apply these same checks. Each
 * check returns a problem in words, or undefined.
 */

/** Upstream claims that can fill a local field on just-in-time provisioning. */
export const CLAIM_FIELDS = ['username', 'email'] as const satisfies readonly (keyof ClaimMapping)[];

/** A scope token (RFC 6749 section 3.3). */
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;

export function idpNameProblem(name: string): string | undefined {
  if (!IDP_NAME.test(name)) return 'a name is lowercase letters, digits, "-" or "_" (the name chains use), e.g. "yahoo"';
  return undefined;
}

/** A chain can name only one thing by each name: built-in authenticators and stored providers share them. */
export function nameTakenProblem(name: string, catalog: AuthenticatorCatalog): string | undefined {
  return catalog.has(name) ? `"${name}" is already the name of an authenticator or identity provider` : undefined;
}

/**
 * Where the provider is: exactly one of a preset (its issuer and display name) or an
 * issuer URL (a trailing "/" dropped, https unless on loopback).
 */
export function resolveSource(source: { preset?: string; issuer?: string }):
  { issuer: string; displayName?: string } | { path: 'preset' | 'issuer'; problem: string } {
  if ((source.preset === undefined) === (source.issuer === undefined)) {
    return { path: 'preset', problem: `choose one of a preset (${Object.keys(PRESETS).join(', ')}) or an issuer URL` };
  }
  if (source.preset !== undefined) {
    const preset = Object.hasOwn(PRESETS, source.preset) ? PRESETS[source.preset]! : undefined;
    if (!preset) return { path: 'preset', problem: `unknown preset "${source.preset}" (known: ${Object.keys(PRESETS).join(', ')})` };
    return { issuer: preset.issuer, displayName: preset.displayName };
  }
  const issuer = source.issuer!.replace(/\/$/, '');
  const bad = checkIssuer(issuer);
  return bad ? { path: 'issuer', problem: bad } : { issuer };
}

export function scopesProblem(scopes: string[]): string | undefined {
  const bad = scopes.find((s) => !SCOPE_TOKEN.test(s));
  if (bad !== undefined) return `"${bad}" is not a scope (no spaces, quotes or backslashes)`;
  if (!scopes.includes('openid')) return 'must include "openid"';
  return undefined;
}

/** The ids of the clients whose chains name `name`: a provider in use cannot be removed. */
export function clientsNaming(name: string, clients: { clientId: string; chain: string }[]): string[] {
  // Read the chains for their names only: a chain that fails today's checks still names what it names.
  const anything: AuthenticatorCatalog = { has: () => true, requiresUser: () => false };
  return clients.filter((c) => {
    try {
      return parseChain(c.chain, anything).steps.some((step) => step.options.includes(name));
    } catch {
      return false;
    }
  }).map((c) => c.clientId);
}

/** The message for a provider still named by chains. */
export function inUseProblem(name: string, clientIds: string[]): string {
  return `"${name}" is in the chain of ${clientIds.join(', ')}; change those chains first`;
}
