/**
 * A client's authentication chain: ordered steps, each satisfied by any one of its
 * alternative authenticators. Text form (CLI, storage): steps separated by ",",
 * alternatives inside a step by "|" — "password,totp" or "google|password,totp".
 */
export type Step = { options: string[] };
export type Chain = { steps: Step[] };

export class ChainError extends Error {}

/** What the parser needs to know of each authenticator. */
export type AuthenticatorCatalog = { has(id: string): boolean; requiresUser(id: string): boolean };

const NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;

/**
 * Parses and validates a chain. Refuses an empty chain, an unknown authenticator, a
 * step repeating an alternative, and a first step with an option that cannot identify
 * a user (TOTP cannot tell who is logging in).
 */
export function parseChain(text: string, catalog: AuthenticatorCatalog): Chain {
  const trimmed = text.trim();
  if (trimmed === '') throw new ChainError('chain is empty: name at least one step, e.g. "password,totp"');
  const steps = trimmed.split(',').map((stepText, index) => {
    const options = stepText.split('|').map((o) => o.trim().toLowerCase());
    for (const option of options) {
      if (option === '') throw new ChainError(`step ${index + 1} of "${trimmed}" is empty`);
      if (!NAME.test(option)) throw new ChainError(`"${option}" is not a valid authenticator name`);
      if (!catalog.has(option)) throw new ChainError(`unknown authenticator "${option}" in step ${index + 1}`);
      if (index === 0 && catalog.requiresUser(option)) {
        throw new ChainError(`"${option}" cannot be in the first step: it needs a user identified by an earlier step`);
      }
    }
    if (new Set(options).size !== options.length) throw new ChainError(`step ${index + 1} names an alternative twice`);
    return { options };
  });
  return { steps };
}

export function formatChain(chain: Chain): string {
  return chain.steps.map((s) => s.options.join('|')).join(',');
}

/** "Step 1: password. Step 2: totp or recovery." — what a person will face. */
export function describeChain(chain: Chain, label: (id: string) => string = (id) => id): string {
  return chain.steps.map((s, i) => `Step ${i + 1}: ${s.options.map(label).join(' or ')}.`).join(' ');
}
