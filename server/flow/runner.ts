import { timingSafeEqual } from 'node:crypto';
import type { Authenticator, StepContext, StepResult, UpstreamLogin } from './contract.ts';
import { parseChain, ChainError, type Chain, type AuthenticatorCatalog } from './chain.ts';
import { FlowStates, newCsrf, type FlowState, type SatisfiedStep } from './state.ts';
import type { SessionSteps } from './sso.ts';
import type { Door, FlowEvents } from '../observability/events.ts';
import type { KnownDevice } from '../security/known-devices.ts';

/** What the HTTP layer should do next. */
export type Outcome =
  | { kind: 'render'; view: string; status: number; locals: Record<string, unknown> }
  /** `external`: to an upstream provider, which will come back to the step's callback */
  | { kind: 'redirect'; location: string; external?: boolean }
  /** a step was satisfied and more remain: the HTTP layer gives the login a new id, then shows the next step */
  | { kind: 'next-step' }
  | { kind: 'complete'; result: LoginResult }
  | { kind: 'error'; status: number; code: string; message: string };

/** What oidc-provider receives when every step is satisfied. */
export type LoginResult = {
  login: { accountId: string; amr: string[]; acr: string; ts: number; remember: boolean };
  /** the steps satisfied, for single sign-on at other clients (read by the interaction policy) */
  stepgate: { steps: { authenticator: string; at: number; upstream?: UpstreamLogin }[] };
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


/** The answer of a chain satisfied without a browser (password and SAML2 bearer grants). */
export type DirectOutcome =
  | { kind: 'complete'; result: LoginResult }
  | {
    kind: 'refused';
    /** interactive_chain: a step can only be satisfied in a browser; missing_input: the caller did not send what a step needs */
    code: 'unknown_client' | 'interactive_chain' | 'missing_input' | 'step_unavailable' | 'step_failed' | 'subject_mismatch';
    message: string;
    /** the authenticator concerned, when there is one */
    authenticator?: string;
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
  readonly #builtIn: Authenticator[];
  readonly #federated: () => Promise<Authenticator[]>;
  /** built-ins plus the stored identity providers, as of the last refresh */
  #authenticators: Map<string, Authenticator>;
  readonly #states: FlowStates;
  readonly #sso: SessionSteps;
  readonly #chainOf: (clientId: string) => Promise<string | undefined>;
  readonly #ttl: number;
  readonly #ssoFreshness: number;
  readonly #basePath: string;
  readonly #events: FlowEvents | undefined;

  constructor(deps: {
    authenticators: Authenticator[];
    /** authenticators that live in storage (identity providers), read again on every request */
    federated?: () => Promise<Authenticator[]>;
    states: FlowStates;
    sso: SessionSteps;
    chainOf: (clientId: string) => Promise<string | undefined>;
    interactionTtl: number;
    ssoFreshness: number;
    basePath: string;
    /** where logins started, step outcomes and completions are reported (metrics) */
    events?: FlowEvents;
  }) {
    this.#builtIn = deps.authenticators;
    this.#federated = deps.federated ?? (async () => []);
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

  /** Every authenticator a chain may name (for the admin chain editor). */
  authenticatorIds(): string[] {
    return [...this.#authenticators.keys()];
  }

  /**
   * Reloads the stored authenticators, so an identity provider added or removed (by the
   * CLI, in another process) counts from the next request on, without a restart.
   */
  async refresh(): Promise<void> {
    const federated = await this.#federated();
    this.#authenticators = new Map([...federated, ...this.#builtIn].map((a) => [a.id, a]));
  }

  /**
   * True when every way through the chain (any alternative at each step) uses at least two
   * different methods (amr values): what the admin console, and any client allowed the
   * admin API, must demand. "password,totp|password" is not: password twice is one factor.
   */
  guaranteesMultiFactor(chainText: string): boolean {
    const chain = parseChain(chainText, this.catalog);
    let paths: Set<string>[] = [new Set()];
    for (const step of chain.steps) {
      paths = paths.flatMap((seen) => step.options.map((o) => new Set([...seen, ...(this.#authenticators.get(o)?.amr ?? [])])));
      if (paths.length > 4096) return false;
    }
    return paths.every((methods) => methods.size >= 2);
  }

  label(id: string): string {
    return this.#authenticators.get(id)?.label ?? id;
  }

  /** The current step's page (or the next redirect) for a GET. */
  async show(facts: InteractionFacts, clientAddress: string): Promise<Outcome> {
    await this.refresh();
    const loaded = await this.#loadOrBegin(facts);
    if ('kind' in loaded) return loaded;
    return this.#advance(facts, loaded.state, loaded.version, clientAddress);
  }

  /** The user picked one alternative of a step with several. */
  async choose(facts: InteractionFacts, input: { step: number; csrf: string; option: string }): Promise<Outcome> {
    await this.refresh();
    const loaded = await this.#loadForPost(facts, input.step, input.csrf);
    if ('kind' in loaded) return loaded;
    const { state, version, chain } = loaded;
    const options = chain.steps[input.step]!.options;
    if (input.option !== '' && !options.includes(input.option)) {
      return { kind: 'error', status: 400, code: 'invalid_option', message: 'That sign-in method is not offered for this step.' };
    }
    const next: FlowState = { ...state, chosen: input.option || undefined, stepState: {}, awaiting: undefined };
    if (!(await this.#states.save(facts.uid, next, version))) return conflict();
    return { kind: 'redirect', location: this.#url(facts.uid) };
  }

  /** A form POST answering step `input.step`. */
  async answer(facts: InteractionFacts, input: { step: number; csrf: string; fields: Record<string, string> }, clientAddress: string, device?: KnownDevice): Promise<Outcome> {
    await this.refresh();
    const loaded = await this.#loadForPost(facts, input.step, input.csrf);
    if ('kind' in loaded) return loaded;
    const { state, version, chain } = loaded;
    const authenticator = state.chosen ? this.#authenticators.get(state.chosen) : undefined;
    const onlyOption = chain.steps[input.step]!.options.length === 1 ? this.#authenticators.get(chain.steps[input.step]!.options[0]!) : undefined;
    const current = authenticator ?? onlyOption;
    if (!current) return { kind: 'redirect', location: this.#url(facts.uid) };
    // A step out at an upstream provider is answered only by that provider's callback.
    if (state.awaiting !== undefined) return { kind: 'error', status: 409, code: 'wrong_step', message: 'This step is waiting for the sign-in at the other provider. Reload the page to continue.' };
    // Take a short lease on the state before asking the authenticator: of several racing
    // answers (two tabs, a replayed post) exactly one goes on; the rest are refused before
    // they can consume a code or count an attempt. Saving the outcome ends the lease.
    if (state.busyUntil !== undefined && state.busyUntil > epoch()) return conflict();
    if (!(await this.#states.save(facts.uid, { ...state, busyUntil: epoch() + 30 }, version))) return conflict();
    const ctx = { ...this.#context(facts.uid, state, current.id, input.fields, clientAddress), device };
    const result = await current.resume(ctx);
    return this.#apply(facts, { ...state, stepState: ctx.state }, version + 1, current, result, clientAddress);
  }

  /**
   * An upstream provider sent the browser back to `input.authenticator`'s callback. Accepted
   * once, and only while the current step of this interaction is waiting for exactly that
   * authenticator; the authenticator then checks state, nonce and PKCE against the step's
   * private state.
   */
  async callback(facts: InteractionFacts, input: { authenticator: string; query: Record<string, string> }, clientAddress: string): Promise<Outcome> {
    await this.refresh();
    const loaded = await this.#states.load(facts.uid);
    if (!loaded) return { kind: 'error', status: 400, code: 'expired', message: 'This login has expired. Go back to the application and start again.' };
    const { state, version } = loaded;
    const current = this.#authenticators.get(input.authenticator);
    if (!current || state.awaiting !== input.authenticator) {
      return { kind: 'error', status: 400, code: 'unexpected_callback', message: 'This sign-in response does not belong to the step in progress, or was already used. Go back to the application and start again.' };
    }
    // Claim the callback before anything else: a replayed or concurrent response finds it gone.
    const claimed: FlowState = { ...state, awaiting: undefined };
    if (!(await this.#states.save(facts.uid, claimed, version))) return conflict();
    const ctx = this.#context(facts.uid, claimed, current.id, input.query, clientAddress);
    const result = await current.resume(ctx);
    return this.#apply(facts, { ...claimed, stepState: ctx.state }, version + 1, current, result, clientAddress);
  }

  /** Whether `token` is this login's current CSRF token. */
  async csrfMatches(uid: string, token: string): Promise<boolean> {
    const loaded = await this.#states.load(uid);
    return loaded !== undefined && safeEqual(token, loaded.state.csrf);
  }

  /** Moves a login's state to its new interaction id (see rotateInteraction). */
  async rename(uid: string, next: string): Promise<boolean> {
    return this.#states.rename(uid, next);
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
    await this.refresh();
    const chain = await this.#chain(clientId);
    if (!chain) return false;
    const fresh = await this.#sso.fresh(session.uid, session.accountId, epoch() - this.#ssoFreshness);
    return chain.steps.every((s) => s.options.some((o) => fresh.has(o)));
  }

  /**
   * Satisfies a client's chain in one go, without a browser: `inputs` names every
   * authenticator the caller can feed, with its input (undefined when the caller has the
   * means but the request lacked it, e.g. no TOTP code). Each step goes through the same
   * authenticators (`resume`), lockout and same-subject rule as a browser login; a step
   * that only an interactive authenticator can satisfy refuses the whole request before
   * any credential is checked.
   */
  async satisfyDirectly(
    clientId: string,
    inputs: Record<string, Record<string, string> | undefined>,
    clientAddress: string,
    identified: { accountId: string; amr: string[]; by: string } | undefined,
    door: Exclude<Door, 'browser'>,
  ): Promise<DirectOutcome> {
    const chainText = await this.#chainOf(clientId);
    if (chainText === undefined) return { kind: 'refused', code: 'unknown_client', message: 'unknown client' };
    let chain: Chain;
    try {
      chain = this.#parse(chainText);
    } catch {
      return { kind: 'refused', code: 'step_unavailable', message: 'this client\'s chain names an authenticator that no longer exists; an admin must fix the chain' };
    }
    const feedable = chain.steps.map((step) => step.options.filter((o) => Object.hasOwn(inputs, o)));
    // An identity already established (a verified SAML assertion) stands for the first,
    // identifying step; every later step applies as usual, to that same subject.
    const from = identified ? 1 : 0;
    for (const [index, options] of feedable.entries()) {
      if (index < from) continue;
      if (options.length === 0) {
        return {
          kind: 'refused', code: 'interactive_chain',
          message: `step ${index + 1} of this client's authentication chain (${chain.steps[index]!.options.join(' or ')}) needs a browser`,
        };
      }
    }
    for (const options of feedable.slice(from)) {
      if (options.every((o) => inputs[o] === undefined)) {
        return { kind: 'refused', code: 'missing_input', message: `${this.label(options[0]!)} is required`, authenticator: options[0] };
      }
    }

    const state: FlowState = { clientId, chain: chainText, satisfied: [], stepState: {}, csrf: '' };
    if (identified) {
      state.accountId = identified.accountId;
      state.satisfied.push({ step: 0, authenticator: identified.by, amr: identified.amr, at: epoch() });
    }
    for (const [index, options] of feedable.entries()) {
      if (index < from) continue;
      let chosen: Authenticator | undefined;
      for (const id of options) {
        const a = this.#authenticators.get(id)!;
        if (inputs[id] === undefined) continue;
        if (state.accountId && a.configuredFor && !(await a.configuredFor(state.accountId))) continue;
        chosen = a;
        break;
      }
      if (!chosen) {
        return { kind: 'refused', code: 'step_unavailable', message: `step ${index + 1} needs ${options.map((o) => this.label(o)).join(' or ')}, and this account has none set up` };
      }
      const result = await chosen.resume({ input: inputs[chosen.id]!, accountId: state.accountId, state: {}, urls: { action: '', callback: '' }, clientAddress });
      const reported = { clientId, authenticator: chosen.id, step: index, address: clientAddress, door };
      if (result.kind === 'failure') {
        this.#events?.authStep({ ...reported, outcome: 'failure', reason: result.error.code, accountId: state.accountId ?? result.attempted });
        return { kind: 'refused', code: 'step_failed', message: result.error.message, authenticator: chosen.id };
      }
      if (result.kind !== 'success') return { kind: 'refused', code: 'interactive_chain', message: `${this.label(chosen.id)} needs a browser` };
      if (state.accountId !== undefined && result.accountId !== state.accountId) {
        return { kind: 'refused', code: 'subject_mismatch', message: 'the steps were satisfied by different users' };
      }
      this.#events?.authStep({ ...reported, outcome: 'success', accountId: result.accountId });
      state.accountId = result.accountId;
      state.satisfied.push({ step: index, authenticator: chosen.id, amr: result.amr, at: epoch() });
    }
    return this.#complete(state);
  }

  /**
   * A stored chain can name an authenticator that has gone since (an identity provider
   * removed while a login was under way): that login cannot go on, and the person is told so.
   */
  #parse(text: string): Chain {
    try {
      return parseChain(text, this.catalog);
    } catch (err) {
      if (!(err instanceof ChainError)) throw err;
      throw Object.assign(new Error('The sign-in methods of this application changed while you were signing in. Go back to the application and start again.'), { status: 409, expose: true });
    }
  }

  async #chain(clientId: string): Promise<Chain | undefined> {
    const text = await this.#chainOf(clientId);
    return text === undefined ? undefined : this.#parse(text);
  }

  async #loadOrBegin(facts: InteractionFacts): Promise<{ state: FlowState; version: number } | Outcome> {
    const existing = await this.#states.load(facts.uid);
    if (existing) return existing;
    const chainText = await this.#chainOf(facts.clientId);
    if (chainText === undefined) return { kind: 'error', status: 400, code: 'unknown_client', message: 'This application is not registered.' };
    const chain = this.#parse(chainText);
    const state: FlowState = { clientId: facts.clientId, chain: chainText, satisfied: [], stepState: {}, csrf: newCsrf() };

    // Single sign-on: steps this browser satisfied recently, in order, count again —
    // unless the client demands a fresh login.
    if (facts.session && !facts.forceFresh) {
      const fresh = await this.#sso.fresh(facts.session.uid, facts.session.accountId, epoch() - this.#ssoFreshness);
      for (const [index, step] of chain.steps.entries()) {
        const reuse = step.options.find((o) => fresh.has(o));
        if (!reuse) break;
        state.accountId = facts.session.accountId;
        state.satisfied.push({ step: index, authenticator: reuse, amr: this.#authenticators.get(reuse)?.amr ?? [], at: fresh.get(reuse)!, remembered: true });
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
    const chain = this.#parse(loaded.state.chain);
    if (!Number.isInteger(step) || step !== loaded.state.satisfied.length || step >= chain.steps.length) {
      return { kind: 'error', status: 409, code: 'wrong_step', message: 'That step is not the one this login is waiting for. Reload the page to continue.' } as Outcome;
    }
    return { ...loaded, chain };
  }

  async #advance(facts: InteractionFacts, state: FlowState, version: number, clientAddress: string): Promise<Outcome> {
    const chain = this.#parse(state.chain);
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
        message: `This application needs ${step.options.map((o) => this.label(o)).join(' or ')} for step ${index + 1}, and your account has none of them set up (an authenticator app not enrolled, or an identity provider not linked). Ask your administrator.`,
      };
    }
    const chosen = state.chosen && usable.includes(state.chosen) ? state.chosen : usable.length === 1 ? usable[0] : undefined;
    const common = this.#locals(facts.uid, state, chain, index, usable);
    if (!chosen) {
      return { kind: 'render', view: 'views/choose', status: 200, locals: { ...common, options: usable.map((id) => ({ id, label: this.label(id) })) } };
    }
    const authenticator = this.#authenticators.get(chosen)!;
    const ctx = this.#context(facts.uid, state, authenticator.id, {}, clientAddress);
    const result = await authenticator.start(ctx);
    // A fresh start replaces any earlier trip upstream: its late callback will not be accepted.
    return this.#apply(facts, { ...state, chosen, stepState: ctx.state, awaiting: undefined }, version, authenticator, result, clientAddress);
  }

  async #apply(facts: InteractionFacts, leased: FlowState, version: number, authenticator: Authenticator, result: StepResult, clientAddress: string): Promise<Outcome> {
    const state: FlowState = { ...leased, busyUntil: undefined };
    const chain = this.#parse(state.chain);
    const index = state.satisfied.length;
    const usable = chain.steps[index]!.options;
    switch (result.kind) {
      case 'challenge':
      case 'failure': {
        if (!(await this.#states.save(facts.uid, state, version))) return conflict();
        if (result.kind === 'failure') {
          this.#events?.authStep({ clientId: state.clientId, authenticator: authenticator.id, step: index, outcome: 'failure', reason: result.error.code, accountId: state.accountId ?? result.attempted, address: clientAddress, door: 'browser' });
        }
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
        if (!(await this.#states.save(facts.uid, { ...state, awaiting: authenticator.id }, version))) return conflict();
        return { kind: 'redirect', location: result.location.href, external: true };
      case 'success': {
        // The subject is fixed by the first identifying step; every later step must be
        // satisfied by that same user.
        if (state.accountId !== undefined && result.accountId !== state.accountId) {
          return { kind: 'error', status: 403, code: 'subject_mismatch', message: 'That step was completed as a different user. Start again from the application.' };
        }
        const satisfied: SatisfiedStep = { step: index, authenticator: authenticator.id, amr: result.amr, at: epoch(), ...(result.upstream ? { upstream: result.upstream } : {}) };
        const next: FlowState = {
          ...state, accountId: result.accountId, satisfied: [...state.satisfied, satisfied],
          chosen: undefined, stepState: {}, awaiting: undefined, csrf: newCsrf(),
        };
        if (!(await this.#states.save(facts.uid, next, version))) return conflict();
        this.#events?.authStep({ clientId: state.clientId, authenticator: authenticator.id, step: index, outcome: 'success', accountId: result.accountId, address: clientAddress, door: 'browser' });
        if (next.satisfied.length === chain.steps.length) return this.#complete(next);
        return { kind: 'next-step' };
      }
    }
  }

  #complete(state: FlowState): { kind: 'complete'; result: LoginResult } {
    const amr = new Set<string>();
    for (const s of state.satisfied) for (const v of s.amr) amr.add(v);
    // RFC 8176 "mfa", and the multi-step acr, only when two different methods were used:
    // a password asked twice is still one factor.
    const multiFactor = amr.size > 1;
    if (multiFactor) amr.add('mfa');
    this.#events?.emit('login.completed', { clientId: state.clientId });
    // auth_time is when the oldest step was satisfied (a step reused by single sign-on may be
    // hours old): max_age must see the age of every factor, not of the newest one.
    const authTime = Math.min(...state.satisfied.map((s) => s.at));
    return {
      kind: 'complete',
      result: {
        login: {
          accountId: state.accountId!,
          amr: [...amr],
          acr: multiFactor ? ACR_MULTI : ACR_SINGLE,
          ts: authTime,
          remember: true,
        },
        stepgate: { steps: state.satisfied.map((s) => ({ authenticator: s.authenticator, at: s.at, ...(s.upstream ? { upstream: s.upstream } : {}) })) },
      },
    };
  }

  #context(uid: string, state: FlowState, authenticatorId: string, input: Record<string, string>, clientAddress: string): StepContext {
    return {
      input,
      accountId: state.accountId,
      state: structuredClone(state.stepState),
      urls: { action: `${this.#url(uid)}/step/${state.satisfied.length}`, callback: `${this.#basePath}/federation/${authenticatorId}/callback` },
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
