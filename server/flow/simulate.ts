import { parseChain, type Chain } from './chain.ts';
import type { ChainRunner } from './runner.ts';
import type { Plan, PlannedStep, Satisfaction } from './plan.ts';
import type { SatisfiedStep } from './state.ts';

/**
 * The chain simulator: what will user U face at client C, and why — the same plan() a real
 * login runs, walked as if the person answered every step asked with its first usable
 * option. Behind `stepgate simulate`, POST /admin/api/clients/{id}/simulate and the
 * console's "Try it" form.
 */
export type SimulationInput = {
  username: string;
  /** the client's network address */
  address?: string;
  /** an acr_values value */
  acr?: string;
  /** the request's max_age, in seconds */
  maxAge?: number;
  /** this browser is remembered for the user (as of now) */
  rememberedDevice?: boolean;
  /** steps the browser session satisfied, e.g. "password@-10m,totp@-3h" */
  session?: string;
};

export type SimulatedStep = {
  /** 1-based, as people count */
  step: number;
  options: string[];
  outcome: PlannedStep['outcome'];
  reason: string;
  /** ask: the options offered; satisfied: by which authenticator; unavailable: what could be enrolled */
  usable?: string[];
  by?: string;
  enrol?: string[];
};

export type Simulation = { steps: SimulatedStep[]; complete: boolean; acr: string; amr: string[]; unmet?: string };

/** A simulation that cannot run: `field` names the input at fault. */
export class SimulationError extends Error {
  readonly field: string;

  constructor(field: string, message: string) {
    super(message);
    this.field = field;
  }
}

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** "password@-10m,totp@-3h" → steps satisfied 10 minutes and 3 hours before `now`. */
export function parseSessionSpec(spec: string, now: number): Satisfaction[] {
  return spec.split(',').map((s) => s.trim()).filter(Boolean).map((item) => {
    const match = /^([a-z0-9][a-z0-9_-]{0,63})@-(\d{1,9})([smhd])$/.exec(item);
    if (!match) throw new SimulationError('session', `"${item}": expected <authenticator>@-<age> with s, m, h or d, e.g. "password@-10m"`);
    return { authenticator: match[1]!, at: now - Number(match[2]) * UNITS[match[3]!]! };
  });
}

export async function simulate(
  deps: {
    runner: ChainRunner; chainOf: (clientId: string) => Promise<string | undefined>;
    userByName: (username: string) => Promise<{ id: string; disabled: boolean; enrolmentRequired: boolean } | undefined>;
    hasSecondFactor: (userId: string) => Promise<boolean>;
  },
  clientId: string,
  input: SimulationInput,
): Promise<Simulation> {
  const chainText = await deps.chainOf(clientId);
  if (chainText === undefined) throw new SimulationError('client', `no client "${clientId}"`);
  const user = await deps.userByName(input.username);
  if (!user) throw new SimulationError('user', `no user "${input.username}"`);
  if (user.disabled) throw new SimulationError('user', `user "${input.username}" is disabled and cannot sign in`);
  if (input.maxAge !== undefined && (!Number.isInteger(input.maxAge) || input.maxAge < 0)) throw new SimulationError('max_age', 'must be a whole number of seconds, 0 or more');
  await deps.runner.refresh();
  const chain: Chain = parseChain(chainText, deps.runner.catalog);
  const now = Math.floor(Date.now() / 1000);
  const sessionSteps = parseSessionSpec(input.session ?? '', now);
  for (const s of sessionSteps) {
    if (!deps.runner.catalog.has(s.authenticator)) throw new SimulationError('session', `unknown authenticator "${s.authenticator}"`);
  }
  const request = { ...(input.acr ? { acrValues: [input.acr] } : {}), ...(input.maxAge !== undefined ? { maxAge: input.maxAge } : {}) };
  const run = (done: SatisfiedStep[]): Promise<Plan> => deps.runner.plan(chain, {
    accountId: user.id, done, sessionSteps, request,
    ...(input.address ? { address: input.address } : {}),
    ...(input.rememberedDevice ? { rememberedSince: now } : {}),
  });

  // Answer each step asked, in order, then plan again (as the runner does after each step).
  const asked = new Map<number, PlannedStep>();
  const done: SatisfiedStep[] = [];
  let p = await run(done);
  while (p.next?.outcome === 'ask' && !asked.has(p.next.step)) {
    const next = p.next;
    asked.set(next.step, next);
    const id = next.usable![0]!;
    done.push({ step: next.step, authenticator: id, amr: deps.runner.amrOf(id), at: now });
    p = await run(done);
  }
  const steps = p.steps.map((s): SimulatedStep => {
    const shown = asked.get(s.step) ?? s;
    return {
      step: s.step + 1, options: s.options, outcome: shown.outcome, reason: shown.reason,
      ...(shown.outcome === 'ask' ? { usable: shown.usable } : {}),
      ...(shown.outcome === 'satisfied' ? { by: shown.by } : {}),
      ...(shown.outcome === 'unavailable' ? { enrol: shown.enrol } : {}),
    };
  });
  // An admin's "set up a second factor at the next login" adds one more step once the chain is done (see ChainRunner).
  if (p.complete && !p.unmet && user.enrolmentRequired && !(await deps.hasSecondFactor(user.id))) {
    const enrol = deps.runner.enrollable();
    steps.push({ step: steps.length + 1, options: enrol, outcome: 'unavailable', reason: `an administrator required a second factor at the next login; can enrol ${enrol.join(' or ')} now`, enrol });
    return { steps, complete: false, acr: p.acr, amr: p.amr };
  }
  return { steps, complete: p.complete, acr: p.acr, amr: p.amr, ...(p.unmet ? { unmet: p.unmet } : {}) };
}

/** The simulation for people: one line per step, then acr and amr. */
export function describeSimulation(sim: Simulation, label: (id: string) => string = (id) => id): string {
  const lines = sim.steps.map((s) => {
    const head = `Step ${s.step} (${s.options.map(label).join(' or ')}): `;
    switch (s.outcome) {
      case 'ask': return `${head}ask ${s.usable!.map(label).join(' or ')}${s.reason.includes(';') ? ` — ${s.reason.slice(s.reason.indexOf(';') + 2)}` : ''}`;
      case 'satisfied': return `${head}satisfied — ${s.reason}`;
      case 'skip': return `${head}skip — ${s.reason}`;
      case 'unavailable': return `${head}unavailable — ${s.reason}${s.enrol?.length ? '' : '; enrolment would not be offered'}`;
    }
  });
  if (sim.unmet) lines.push(`Refused: ${sim.unmet} (unmet_authentication_requirements)`);
  else if (!sim.complete) lines.push('The sign-in cannot complete.');
  else lines.push(`acr: ${sim.acr}`, `amr: ${sim.amr.join(' ')}`);
  return lines.join('\n');
}
