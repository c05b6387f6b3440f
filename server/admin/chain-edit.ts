import { parseChain, formatChain, ChainError, type Chain, type AuthenticatorCatalog } from '../flow/chain.ts';

/** One change the chain editor's buttons ask for. Indices are 0-based. */
export type ChainEdit =
  | { op: 'add-step'; authenticator: string }
  | { op: 'remove-step'; step: number }
  | { op: 'move-step'; step: number; by: -1 | 1 }
  | { op: 'add-option'; step: number; authenticator: string }
  | { op: 'remove-option'; step: number; option: number }
  | { op: 'move-option'; step: number; option: number; by: -1 | 1 };

export class ChainEditError extends Error {}

/**
 * Applies one edit to a chain and returns the new chain; the caller validates the result
 * with parseChain (an edit may leave, say, TOTP first, which is then refused with the reason).
 */
export default function editChain(chain: Chain, edit: ChainEdit): Chain {
  // Steps keep their level, conditions, maxAge and remember; edits move steps and options.
  const steps = chain.steps.map((s) => ({ ...s, options: [...s.options] }));
  const step = 'step' in edit ? steps[edit.step] : undefined;
  if ('step' in edit && !step) throw new ChainEditError(`there is no step ${edit.step + 1}`);
  switch (edit.op) {
    case 'add-step':
      steps.push({ options: [edit.authenticator] });
      break;
    case 'remove-step':
      steps.splice(edit.step, 1);
      break;
    case 'move-step':
      swap(steps, edit.step, edit.step + edit.by);
      break;
    case 'add-option':
      step!.options.push(edit.authenticator);
      break;
    case 'remove-option':
      if (!step!.options[edit.option]) throw new ChainEditError(`step ${edit.step + 1} has no alternative ${edit.option + 1}`);
      step!.options.splice(edit.option, 1);
      if (step!.options.length === 0) steps.splice(edit.step, 1);
      break;
    case 'move-option':
      swap(step!.options, edit.option, edit.option + edit.by);
      break;
  }
  return { ...chain, steps };
}

function swap<T>(list: T[], i: number, j: number): void {
  if (i < 0 || j < 0 || i >= list.length || j >= list.length) throw new ChainEditError('that cannot move further');
  [list[i], list[j]] = [list[j]!, list[i]!];
}

/**
 * Whether an edit leaves a chain the broker accepts (e.g. TOTP never first): the editor
 * offers only those, so it does not show a choice it would then refuse. The same rules
 * as the save (parseChain); the save still checks, for a page drawn before a change.
 */
export function permits(chain: Chain, catalog: AuthenticatorCatalog): (edit: ChainEdit) => boolean {
  return (edit) => {
    try {
      parseChain(formatChain(editChain(chain, edit)), catalog);
      return true;
    } catch (err) {
      if (err instanceof ChainEditError || err instanceof ChainError) return false;
      throw err;
    }
  };
}
