import { timingSafeEqual } from 'node:crypto';
import type { Authenticator, StepContext, StepResult } from './contract.ts';
import { parseChain, type Chain, type AuthenticatorCatalog } from './chain.ts';
import { FlowStates, newCsrf, type FlowState, type SatisfiedStep } from './state.ts';
import type { SessionSteps } from './sso.ts';
import type { FlowEvents } from '../observability/events.ts';

/** What the HTTP layer should do next. */
export type Outcome =
  | { kind: 'render'; view: string; status: number; locals: Record<string, unknown> }
  | { kind: 'redirect'; location: string }
  | { kind: 'complete'; result: LoginResult }
  | { kind: 'error'; status: number; code: string; message: string };

/** What oidc-provider receives when every step is satisfied. */
export type LoginResult = {
  login: { accountId: string; amr: string[]; acr: string; ts: number; remember: boolean };
  /** the steps satisfied, for single sign-on at other clients (read by the interaction policy) */
  stepgate: { steps: { authenticator: string; at: number }[] };
};

/** Facts about the interaction that the runner needs (from oidc-provider's interactionDetails). */
export type InteractionFacts = {
  uid: string;
  clientId: string;
  /** the browser session's uid and subject, when there is one */
  session?: { uid: string; accountId: string };
  /** true when the request demands fresh authentication (prompt=login, max_age exceeded) */
  forceFresh: boolean;
};

export const ACR_SINGLE = 'urn:stepgate:acr:single-step';
export const ACR_MULTI = 'urn:stepgate:acr:multi-step';

const epoch = () => Math.floor(Date.now() / 1000);

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * The chain engine: walks a client's steps for one interaction, asks authenticators,
 * and declares the login complete only when every step is satisfied by one subject.
 */
export class ChainRunner {
  readonly #authenticators: Map<string, Authenticator>;
  readonly #states: FlowStates;
  readonly #sso: SessionSteps;
  readonly #chainOf: (clientId: string) => Promise<string | undefined>;
  readonly #ttl: number;
  readonly #ssoFreshness: number;
  readonly #basePath: string;
  readonly #events: FlowEvents | undefined;

  constructor(deps: {
    authenticators: Authenticator[];
    states: FlowStates;
    sso: SessionSteps;
    chainOf: (clientId: string) => Promise<string | undefined>;
    interactionTtl: number;
    ssoFreshness: number;
    basePath: string;
    /** where logins started, step outcomes and completions are reported (metrics) */
    events?: FlowEvents;
  }) {
    this.#authenticators = new Map(deps.authenticators.map((a) => [a.id, a]));
    this.#states = deps.states;
    this.#sso = deps.sso;
    this.#chainOf = deps.chainOf;
    this.#ttl = deps.interactionTtl;
    this.#ssoFreshness = deps.ssoFreshness;
    this.#basePath = deps.basePath;
    this.#events = deps.events;
  }

  get catalog(): AuthenticatorCatalog {
    return {
      has: (id) => this.#authenticators.has(id),
      requiresUser: (id) => this.#authenticators.get(id)?.requiresUser ?? false,
    };
  }

  label(id: string): string {
    return this.#authenticators.get(id)?.label ?? id;
  }

  /** The current step's page (or the next redirect) for a GET. */
  async show(facts: InteractionFacts, clientAddress: string): Promise<Outcome> {
    const loaded = await this.#loadOrBegin(facts);
    if ('kind' in loaded) return loaded;
    return this.#advance(facts, loaded.state, loaded.version, clientAddress);
  }

  /** The user picked one alternative of a step with several. */
  async choose(facts: InteractionFacts, input: { step: number; csrf: string; option: string }, clientAddress: string): Promise<Outcome> {
    const loaded = await this.#loadForPost(facts, input.step, input.csrf);
    if ('kind' in loaded) return loaded;
    const { state, version, chain } = loaded;
    const options = chain.steps[input.step]!.options;
    if (input.option !== '' && !options.includes(input.option)) {
      return { kind: 'error', status: 400, code: 'invalid_option', message: 'That sign-in method is not offered for this step.' };
    }
    const next: FlowState = { ...state, chosen: input.option || undefined, stepState: {} };
    if (!(await this.#states.save(facts.uid, next, version))) return conflict();
    return { kind: 'redirect', location: this.#url(facts.uid) };
  }

  /** A form POST answering step `input.step`. */
  async answer(facts: InteractionFacts, input: { step: number; csrf: string; fields: Record<string, string> }, clientAddress: string): Promise<Outcome> {
    const loaded = await this.#loadForPost(facts, input.step, input.csrf);
    if ('kind' in loaded) return loaded;
    const { state, version, chain } = loaded;
    const authenticator = state.chosen ? this.#authenticators.get(state.chosen) : undefined;
    const onlyOption = chain.steps[input.step]!.options.length === 1 ? this.#authenticators.get(chain.steps[input.step]!.options[0]!) : undefined;
    const current = authenticator ?? onlyOption;
    if (!current) return { kind: 'redirect', location: this.#url(facts.uid) };
    const ctx = this.#context(facts.uid, state, input.fields, clientAddress);
    const result = await current.resume(ctx);
    return this.#apply(facts, { ...state, stepState: ctx.state }, version, current, result, clientAddress);
  }

  /** Whether `token` is this login's current CSRF token. */
  async csrfMatches(uid: string, token: string): Promise<boolean> {
    const loaded = await this.#states.load(uid);
    return loaded !== undefined && safeEqual(token, loaded.state.csrf);
  }

  /** The login was completed or abandoned: its state is no longer needed. */
  async discard(uid: string): Promise<void> {
    await this.#states.remove(uid);
  }

  /** Records the steps of a completed login against the browser session that now holds it. */
  async rememberForSession(sessionUid: string, result: LoginResult): Promise<void> {
    await this.#sso.remember(sessionUid, result.login.accountId, result.stepgate.steps);
  }

  /** True when this session has satisfied every step of the client's chain recently enough. */
  async sessionSatisfies(clientId: string, session: { uid: string; accountId: string }): Promise<boolean> {
    const chain = await this.#chain(clientId);
    if (!chain) return false;
    const fresh = await this.#sso.fresh(session.uid, session.accountId, epoch() - this.#ssoFreshness);
    return chain.steps.every((s) => s.options.some((o) => fresh.has(o)));
  }

  async #chain(clientId: string): Promise<Chain | undefined> {
    const text = await this.#chainOf(clientId);
    return text === undefined ? undefined : parseChain(text, this.catalog);
  }

  async #loadOrBegin(facts: InteractionFacts): Promise<{ state: FlowState; version: number } | Outcome> {
    const existing = await this.#states.load(facts.uid);
    if (existing) return existing;
    const chainText = await this.#chainOf(facts.clientId);
    if (chainText === undefined) return { kind: 'error', status: 400, code: 'unknown_client', message: 'This application is not registered.' };
    const chain = parseChain(chainText, this.catalog);
    const state: FlowState = { clientId: facts.clientId, chain: chainText, satisfied: [], stepState: {}, csrf: newCsrf() };

    // Single sign-on: steps this browser satisfied recently, in order, count again —
    // unless the client demands a fresh login.
    if (facts.session && !facts.forceFresh) {
      const fresh = await this.#sso.fresh(facts.session.uid, facts.session.accountId, epoch() - this.#ssoFreshness);
      for (const [index, step] of chain.steps.entries()) {
        const reuse = step.options.find((o) => fresh.has(o));
        if (!reuse) break;
        state.accountId = facts.session.accountId;
        state.satisfied.push({ step: index, authenticator: reuse, amr: [], at: fresh.get(reuse)!, remembered: true });
      }
    }
    if (await this.#states.create(facts.uid, state, this.#ttl)) this.#events?.emit('login.started', { clientId: facts.clientId });
    const stored = await this.#states.load(facts.uid);
    return stored ?? { kind: 'error', status: 400, code: 'expired', message: 'This login has expired. Go back to the application and start again.' };
  }

  async #loadForPost(facts: InteractionFacts, step: number, csrf: string) {
    const loaded = await this.#states.load(facts.uid);
    if (!loaded) return { kind: 'error', status: 400, code: 'expired', message: 'This login has expired. Go back to the application and start again.' } as Outcome;
    if (!safeEqual(csrf, loaded.state.csrf)) {
      return { kind: 'error', status: 403, code: 'csrf', message: 'This form is out of date. Reload the page and try again.' } as Outcome;
    }
    const chain = parseChain(loaded.state.chain, this.catalog);
    if (!Number.isInteger(step) || step !== loaded.state.satisfied.length || step >= chain.steps.length) {
      return { kind: 'error', status: 409, code: 'wrong_step', message: 'That step is not the one this login is waiting for. Reload the page to continue.' } as Outcome;
    }
    return { ...loaded, chain };
  }

  async #advance(facts: InteractionFacts, state: FlowState, version: number, clientAddress: string): Promise<Outcome> {
    const chain = parseChain(state.chain, this.catalog);
    const index = state.satisfied.length;
    if (index >= chain.steps.length) return this.#complete(state);

    const step = chain.steps[index]!;
    const usable: string[] = [];
    for (const id of step.options) {
      const a = this.#authenticators.get(id)!;
      if (!state.accountId || !a.configuredFor || (await a.configuredFor(state.accountId))) usable.push(id);
    }
    if (usable.length === 0) {
      return {
        kind: 'error', status: 403, code: 'step_unavailable',
        message: `This application needs ${step.options.map((o) => this.label(o)).join(' or ')} for step ${index + 1}, and your account has none set up. Ask your administrator to enrol one.`,
      };
    }
    const chosen = state.chosen && usable.includes(state.chosen) ? state.chosen : usable.length === 1 ? usable[0] : undefined;
    const common = this.#locals(facts.uid, state, chain, index, usable);
    if (!chosen) {
      return { kind: 'render', view: 'views/choose', status: 200, locals: { ...common, options: usable.map((id) => ({ id, label: this.label(id) })) } };
    }
    const authenticator = this.#authenticators.get(chosen)!;
    const ctx = this.#context(facts.uid, state, {}, clientAddress);
    const result = await authenticator.start(ctx);
    return this.#apply(facts, { ...state, chosen, stepState: ctx.state }, version, authenticator, result, clientAddress);
  }

  async #apply(facts: InteractionFacts, state: FlowState, version: number, authenticator: Authenticator, result: StepResult, clientAddress: string): Promise<Outcome> {
    const chain = parseChain(state.chain, this.catalog);
    const index = state.satisfied.length;
    const usable = chain.steps[index]!.options;
    switch (result.kind) {
      case 'challenge':
      case 'failure': {
        if (!(await this.#states.save(facts.uid, state, version))) return conflict();
        if (result.kind === 'failure') this.#events?.emit('login.step', { clientId: state.clientId, step: authenticator.id, outcome: 'failure', reason: result.error.code });
        if (result.kind === 'failure' && !result.view) {
          return { kind: 'error', status: 400, code: result.error.code, message: result.error.message };
        }
        const view = result.view!;
        return {
          kind: 'render', view, status: result.kind === 'failure' ? 400 : 200,
          locals: { ...this.#locals(facts.uid, state, chain, index, usable), ...result.locals, error: result.kind === 'failure' ? result.error : undefined },
        };
      }
      case 'redirect':
        if (!(await this.#states.save(facts.uid, state, version))) return conflict();
        return { kind: 'redirect', location: result.location.href };
      case 'success': {
        // The subject is fixed by the first identifying step; every later step must be
        // satisfied by that same user.
        if (state.accountId !== undefined && result.accountId !== state.accountId) {
          return { kind: 'error', status: 403, code: 'subject_mismatch', message: 'That step was completed as a different user. Start again from the application.' };
        }
        const satisfied: SatisfiedStep = { step: index, authenticator: authenticator.id, amr: result.amr, at: epoch() };
        const next: FlowState = {
          ...state, accountId: result.accountId, satisfied: [...state.satisfied, satisfied],
          chosen: undefined, stepState: {}, csrf: newCsrf(),
        };
        if (!(await this.#states.save(facts.uid, next, version))) return conflict();
        this.#events?.emit('login.step', { clientId: state.clientId, step: authenticator.id, outcome: 'success' });
        if (next.satisfied.length === chain.steps.length) return this.#complete(next);
        return { kind: 'redirect', location: this.#url(facts.uid) };
      }
    }
  }

  #complete(state: FlowState): Outcome {
    const amr = new Set<string>();
    for (const s of state.satisfied) for (const v of s.amr) amr.add(v);
    // RFC 8176: "mfa" when more than one factor was used.
    const fresh = state.satisfied.filter((s) => !s.remembered);
    if (state.satisfied.length > 1) amr.add('mfa');
    this.#events?.emit('login.completed', { clientId: state.clientId });
    const authTime = fresh.length > 0 ? Math.max(...fresh.map((s) => s.at)) : Math.max(...state.satisfied.map((s) => s.at));
    return {
      kind: 'complete',
      result: {
        login: {
          accountId: state.accountId!,
          amr: [...amr],
          acr: state.satisfied.length > 1 ? ACR_MULTI : ACR_SINGLE,
          ts: authTime,
          remember: true,
        },
        stepgate: { steps: state.satisfied.map((s) => ({ authenticator: s.authenticator, at: s.at })) },
      },
    };
  }

  #context(uid: string, state: FlowState, input: Record<string, string>, clientAddress: string): StepContext {
    return {
      input,
      accountId: state.accountId,
      state: structuredClone(state.stepState),
      urls: { action: `${this.#url(uid)}/step/${state.satisfied.length}`, callback: `${this.#url(uid)}/callback/${state.satisfied.length}` },
      clientAddress,
    };
  }

  #locals(uid: string, state: FlowState, chain: Chain, index: number, usable: string[]) {
    return {
      uid,
      csrf: state.csrf,
      stepIndex: index,
      stepCount: chain.steps.length,
      action: `${this.#url(uid)}/step/${index}`,
      chooseAction: `${this.#url(uid)}/choose/${index}`,
      abortAction: `${this.#url(uid)}/abort`,
      canSwitch: usable.length > 1 && state.chosen !== undefined,
    };
  }

  #url(uid: string): string {
    return `${this.#basePath}/interaction/${uid}`;
  }
}

function conflict(): Outcome {
  return { kind: 'error', status: 409, code: 'conflict', message: 'This step was answered in another window. Reload the page to continue.' };
}
