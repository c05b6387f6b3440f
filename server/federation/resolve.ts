import { randomBytes } from 'node:crypto';
import type { StepResult } from '../flow/contract.ts';
import type { Users } from '../storage/users.ts';
import type { ExternalIdentity, LinkedIdentities } from './linked-identities.ts';

export type Upstream = { acr?: string; amr?: string[]; trustedAmr?: string[] };

/** The page a failed federated step shows: the reason, "try again", another method, or back to the application. */
export const FAILED_VIEW = 'views/federation-failed';

export type ResolveDeps = { users: Users; links: LinkedIdentities };

/**
 * Turns a verified external identity into a step result (DESIGN.md section 2). Only the
 * link table decides who the user is — never an email address, whatever `email_verified`
 * says.
 * - Verifying step (a user was identified earlier): the identity must already be linked
 *   to that same user.
 * - Identifying step: the linked account; if there is none, a new account when the
 *   provider allows just-in-time provisioning, else a refusal.
 */
export async function resolveExternalIdentity(
  deps: ResolveDeps,
  input: { accountId: string | undefined; identity: ExternalIdentity; displayName: string; jit: boolean; upstream: Upstream; profile: { username?: string; email?: string } },
): Promise<StepResult> {
  const { users, links } = deps;
  const { identity, displayName } = input;
  const linked = await links.find(identity.issuer, identity.subject);
  const success = (accountId: string): StepResult => ({
    kind: 'success', accountId, amr: ['fed'],
    upstream: { idp: identity.idpName, issuer: identity.issuer, subject: identity.subject, ...input.upstream },
  });

  if (input.accountId !== undefined) {
    if (linked?.accountId === input.accountId) return success(input.accountId);
    return failure('not_linked', `The ${displayName} account you signed in with is not linked to your account. Sign in at ${displayName} with your own account, or link it on your account page first.`);
  }

  if (linked) {
    const user = await users.byId(linked.accountId);
    if (!user || user.disabled) return failure('account_disabled', 'The account linked to this identity is disabled. Ask your administrator.');
    return success(user.id);
  }
  if (!input.jit) {
    return failure('not_linked', `No account here is linked to this ${displayName} account. Sign in another way and link it on your account page, or ask your administrator.`);
  }
  return success(await provisionWithFreeUsername(deps, identity, input.profile));
}

/**
 * Just-in-time provisioning under a readable username that no one has: the mapped claim
 * (else the subject) at the provider, `alice@corp`, then `alice-2@corp`, … Usernames are
 * case-insensitive while subjects may not be: the link table (issuer, subject) stays the
 * identity, and the username is only a unique label for people.
 */
async function provisionWithFreeUsername(deps: ResolveDeps, identity: ExternalIdentity, profile: { username?: string; email?: string }): Promise<string> {
  const { users, links } = deps;
  const suffix = `@${identity.idpName}`;
  const base = (profile.username || identity.subject).slice(0, 200);
  const candidates = [`${base}${suffix}`, ...Array.from({ length: 18 }, (_, i) => `${base}-${i + 2}${suffix}`), `${base}-${randomBytes(4).toString('hex')}${suffix}`];
  for (const username of candidates) {
    if (await users.byUsername(username)) continue;
    try {
      return await links.provision(users, identity, { username, email: profile.email ?? null });
    } catch (err) {
      // another login took this username meanwhile: try the next one
      if (await users.byUsername(username)) continue;
      throw err;
    }
  }
  throw new Error(`no free username for ${base}${suffix}`);
}

function failure(code: string, message: string): StepResult {
  return { kind: 'failure', error: { code, message }, view: FAILED_VIEW };
}
