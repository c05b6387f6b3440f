import { interactionPolicy, type KoaContextWithOIDC } from 'oidc-provider';
import type { ChainRunner, LoginResult } from '../flow/runner.ts';
import { requestFacts } from '../flow/request.ts';

const { base, Check } = interactionPolicy;

/**
 * oidc-provider's default prompts, plus one login check: a browser session counts for a
 * client only when the chain's plan for *this request* has nothing left to ask — every
 * step that applies reused fresh enough for its maxAge and the request's max_age, at the
 * level acr_values asks for, for the subject an id_token_hint names. Without it, a
 * password-only login at one client would sign the user in at a client that demands
 * password + TOTP.
 */
export function createPolicy(runner: ChainRunner) {
  const policy = base();
  const login = policy.get('login')!;
  login.checks.add(new Check('chain_not_satisfied', "the client's authentication chain has not been completed in this session", async (ctx: KoaContextWithOIDC) => {
    const { oidc } = ctx;
    const session = oidc.session;
    if (!session?.accountId || !oidc.client) return Check.NO_NEED_TO_PROMPT;
    const result = oidc.result as (Partial<LoginResult> & { consent?: unknown }) | undefined;
    if (result?.stepgate && result.login) {
      // Resuming right after our chain finished: this is the moment the browser session
      // exists, so its steps are recorded against it for single sign-on. A result that
      // carries consent too is the resume after the consent page, whose steps the resume
      // before it recorded (writing them again would change nothing).
      if (!result.consent) await runner.rememberForSession(session.uid, result as LoginResult);
      return Check.NO_NEED_TO_PROMPT;
    }
    const answer = await runner.sessionSatisfies(oidc.client.clientId, { uid: session.uid, accountId: session.accountId, acr: oidc.acr },
      requestFacts(oidc.params as Record<string, unknown>), ctx.ip);
    // With prompt=none there is no pass through the runner to give: the session's claims stand.
    if (answer === 'claims-differ') return oidc.prompts.has('none') ? Check.NO_NEED_TO_PROMPT : Check.REQUEST_PROMPT;
    return answer === 'yes' ? Check.NO_NEED_TO_PROMPT : Check.REQUEST_PROMPT;
  }));
  return policy;
}
