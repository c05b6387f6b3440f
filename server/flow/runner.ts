import { timingSafeEqual } from 'node:crypto';
import type { Authenticator, StepContext, StepResult } from './contract.ts';
import { deepFreeze, parseChain, ChainError, type Chain, type AuthenticatorCatalog } from './chain.ts';
import { RememberedDevices } from '../storage/remembered-devices.ts';
import { FlowStates, newCsrf, newInteractionUid, type FlowState, type SatisfiedStep } from './state.ts';
import type { SessionSteps } from './sso.ts';
import type { Door, FlowEvents } from '../observability/events.ts';
import type { KnownDevice } from '../security/known-devices.ts';
import { plan, factorCategories, type Plan, type PlanContext, type AuthenticatorFacts, type Satisfaction, type PlannedStep } from './plan.ts';
import type { RequestFacts } from './request.ts';
import { unavailableMessage, type EnrolmentGate } from './enrolment.ts';

/** What the HTTP layer should do next. */
export type Outcome =
  | { kind: 'render'; view: string; status: number; locals: Record<string, unknown> }
  /** `external`: to an upstream provider, which will come back to the step's callback */
  | { kind: 'redirect'; location: string; external?: boolean }
  /**
   * a step was satisfied and more remain: the HTTP layer gives the login a new id, then shows the next step.
   * `device`: the browser was remembered: the HTTP layer keeps this device id in its cookie.
   * `movedTo`: the state is already saved under this new interaction id, which the HTTP layer must give the login.
   */
  | { kind: 'next-step'; device?: string; movedTo?: string }
  /** `stateRemoved`: the login's state is gone already (else the HTTP layer discards it) */
  | { kind: 'complete'; result: LoginResult; device?: string; stateRemoved?: boolean }
  /** the login ends with an OAuth error for the relying party (e.g. unmet_authentication_requirements) */
  | { kind: 'deny'; error: string; description: string; stateRemoved?: boolean }
  | { kind: 'error'; status: number; code: string; message: string };

/** What oidc-provider receives when every step is satisfied. */
export type LoginResult = {
  login: { accountId: string; amr: string[]; acr: string; ts: number; remember: boolean };
  /** the steps satisfied, for single sign-on at other clients (read by the interaction policy) */
  stepgate: { steps: Satisfaction[] };
};

/** Facts about the interaction that the runner needs (from oidc-provider's interactionDetails). */
export type InteractionFacts = {
  uid: string;
  clientId: string;
  /** the browser session's uid and subject, when there is one */
  session?: { uid: string; accountId: string };
  /** what the relying party asked for (acr_values, essential acr, max_age, prompt, id_token_hint) */
  request: RequestFacts;
  /** this browser's device id (its remembered-device cookie), if it has one */
  device?: string;
  userAgent?: string;
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

export { ACR_SINGLE, ACR_MULTI } from './plan.ts';

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
  /** the stored identity providers' authenticators at the last refresh */
  #federatedNow: Authenticator[] = [];
  /** chains parsed against the authenticators as they are now (frozen: shared by requests) */
  readonly #parsed = new Map<string, Chain>();
  /** refreshes found allowed, by everything the decision reads (see refreshAllowed) */
  readonly #refreshesAllowed = new Set<string>();
  readonly #states: FlowStates;
  readonly #sso: SessionSteps;
  readonly #chainOf: (clientId: string) => Promise<string | undefined>;
  readonly #rolesOf: (accountId: string) => Promise<string[]>;
  readonly #ttl: number;
  readonly #ssoFreshness: number;
  readonly #basePath: string;
  readonly #events: FlowEvents | undefined;
  readonly #enrolment: EnrolmentGate | undefined;
  readonly #devices: RememberedDevices | undefined;

  constructor(deps: {
    authenticators: Authenticator[];
    /** authenticators that live in storage (identity providers), read again on every request */
    federated?: () => Promise<Authenticator[]>;
    states: FlowStates;
    sso: SessionSteps;
    chainOf: (clientId: string) => Promise<string | undefined>;
    /** a user's roles, for conditions on roles (read once the user is identified) */
    rolesOf?: (accountId: string) => Promise<string[]>;
    interactionTtl: number;
    ssoFreshness: number;
    basePath: string;
    /** where logins started, step outcomes and completions are reported (metrics) */
    events?: FlowEvents;
    /** enrolment at login; absent: never offered */
    enrolment?: EnrolmentGate;
    /** browsers users chose to remember (steps with `remember`) */
    devices?: RememberedDevices;
  }) {
    this.#devices = deps.devices;
    this.#builtIn = deps.authenticators;
    this.#federated = deps.federated ?? (async () => []);
    this.#authenticators = new Map(deps.authenticators.map((a) => [a.id, a]));
    this.#states = deps.states;
    this.#sso = deps.sso;
    this.#chainOf = deps.chainOf;
    this.#rolesOf = deps.rolesOf ?? (async () => []);
    this.#ttl = deps.interactionTtl;
    this.#ssoFreshness = deps.ssoFreshness;
    this.#basePath = deps.basePath;
    this.#events = deps.events;
    this.#enrolment = deps.enrolment;
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
    if (federated.length === this.#federatedNow.length && federated.every((a, i) => a === this.#federatedNow[i])) return;
    this.#federatedNow = federated;
    this.#authenticators = new Map([...federated, ...this.#builtIn].map((a) => [a.id, a]));
    // whether a chain is valid depends on which authenticators exist
    this.#parsed.clear();
    this.#refreshesAllowed.clear();
  }

  /** parseChain, once per chain text while the authenticators stay the same (a login plans on every request). */
  #parseChain(text: string): Chain {
    let chain = this.#parsed.get(text);
    if (!chain) {
      chain = deepFreeze(parseChain(text, this.catalog));
      if (this.#parsed.size >= 1000) this.#parsed.clear();
      this.#parsed.set(text, chain);
    }
    return chain;
  }

  /**
   * True when every way through the chain at its default level uses two factor categories
   * (knowledge, possession, inherence): what the admin console, and any client allowed the
   * admin API, must demand. "password,totp|password" is not: password twice is one factor.
   * A step that a condition, a remembered device or a level can leave out does not count.
   */
  guaranteesMultiFactor(chainText: string): boolean {
    const chain = this.#parseChain(chainText);
    const always = chain.steps.filter((s) => (s.level ?? 1) <= (chain.defaultLevel ?? 1) && !s.when && !s.unless && s.remember === undefined);
    let paths: Set<string>[] = [new Set()];
    for (const step of always) {
      paths = paths.flatMap((seen) => step.options.map((o) => new Set([...seen, ...(this.#authenticators.get(o)?.amr ?? [])])));
      if (paths.length > 4096) return false;
    }
    return paths.every((methods) => factorCategories(methods).size >= 2);
  }

  /** A built-in or stored authenticator by id (the password reset page asks second factors through it). */
  authenticator(id: string): Authenticator | undefined {
    return this.#authenticators.get(id);
  }

  label(id: string): string {
    return this.#authenticators.get(id)?.label ?? id;
  }

  /** The RFC 8176 methods a success of this authenticator stands for. */
  amrOf(id: string): string[] {
    return this.#authenticators.get(id)?.amr ?? [];
  }

  /**
   * Plans a login of `clientId`'s chain (see plan.ts) from what is known: the user once
   * identified, the client address, the browser session's steps and the request. The one
   * place the runner, the interaction policy, the grants and the simulator gather facts.
   */
  async plan(chain: Chain, input: {
    accountId?: string;
    address?: string;
    done?: SatisfiedStep[];
    session?: { uid: string; accountId: string };
    request?: RequestFacts;
    /** pretend the session satisfied these (the simulator, the refresh check) */
    sessionSteps?: Satisfaction[];
    /** overrides the default single sign-on freshness (the refresh check reuses regardless of age) */
    ssoFreshness?: number;
    rememberedSince?: number;
  }): Promise<Plan> {
    return (await this.#plan(chain, input)).plan;
  }

  /**
   * `plan`, and which options of the steps still to be asked the user has set up (what it
   * read, or took from `known`: what an earlier plan of this login read).
   */
  async #plan(chain: Chain, input: Parameters<ChainRunner['plan']>[1], known?: Record<string, boolean>): Promise<{ plan: Plan; configured: Record<string, boolean> }> {
    const ids = new Set(chain.steps.flatMap((s) => s.options));
    const authenticators: Record<string, AuthenticatorFacts> = {};
    for (const id of ids) {
      const a = this.#authenticators.get(id);
      if (a) authenticators[id] = { amr: a.amr, enrollable: 'enrol' in a && a.enrol !== undefined };
    }
    const context: PlanContext = {
      now: epoch(),
      ...(input.accountId !== undefined ? { user: { id: input.accountId, roles: await this.#rolesOf(input.accountId) } } : {}),
      ...(input.address !== undefined ? { address: input.address } : {}),
      ...(input.rememberedSince !== undefined ? { rememberedSince: input.rememberedSince } : {}),
      done: Object.fromEntries((input.done ?? []).map((s) => [s.step, { authenticator: s.authenticator, at: s.at, amr: s.amr, ...(s.upstream?.trustedAmr ? { upstreamAmr: s.upstream.trustedAmr } : {}) }])),
      request: input.request ?? {},
      authenticators,
      ssoFreshness: input.ssoFreshness ?? this.#ssoFreshness,
    };
    if (input.sessionSteps && input.accountId !== undefined) context.session = { accountId: input.accountId, steps: input.sessionSteps };
    else if (input.session) context.session = { accountId: input.session.accountId, steps: await this.#sso.steps(input.session.uid, input.session.accountId) };
    const first = plan(chain, context);
    // Whether the user has set an authenticator up decides only which options a step still
    // to be asked offers (or that none can be: "unavailable", which a first plan that does
    // not know shows as "ask"). So it is read for those options alone, and the plan made
    // again with it: a plan that asks nothing (a refresh whose grant covers the chain) reads
    // nothing. Same plan as reading every option's first.
    const configured: Record<string, boolean> = {};
    const accountId = input.accountId;
    if (accountId === undefined) return { plan: first, configured };
    const asked = new Set(first.steps.filter((s) => s.outcome === 'ask').flatMap((s) => s.usable ?? []));
    for (const id of asked) {
      const a = this.#authenticators.get(id);
      if (a?.configuredFor && authenticators[id]) {
        configured[id] = known?.[id] ?? await a.configuredFor(accountId);
        authenticators[id] = { ...authenticators[id], configured: configured[id] };
      }
    }
    return { plan: Object.keys(configured).length ? plan(chain, context) : first, configured };
  }

  /** The current step's page (or the next redirect) for a GET. */
  async show(facts: InteractionFacts, clientAddress: string): Promise<Outcome> {
    await this.refresh();
    const loaded = await this.#loadOrBegin(facts);
    if ('kind' in loaded) return loaded;
    return this.#advance(facts, loaded.state, loaded.version, clientAddress);
  }

  /** The user picked one alternative of a step with several. */
  async choose(facts: InteractionFacts, input: { step: number; csrf: string; option: string }, clientAddress: string): Promise<Outcome> {
    await this.refresh();
    const loaded = await this.#loadForPost(facts, input.step, input.csrf, clientAddress);
    if ('kind' in loaded) return loaded;
    const { state, version, next } = loaded;
    if (input.option !== '' && !offered(next).includes(input.option)) {
      return { kind: 'error', status: 400, code: 'invalid_option', message: 'That sign-in method is not offered for this step.' };
    }
    const changed: FlowState = { ...state, chosen: input.option || undefined, stepState: {}, awaiting: undefined };
    if (!(await this.#states.save(facts.uid, changed, version))) return conflict();
    return { kind: 'redirect', location: this.#url(facts.uid) };
  }

  /** A form POST answering step `input.step`. */
  async answer(facts: InteractionFacts, input: { step: number; csrf: string; fields: Record<string, string> }, clientAddress: string, device?: KnownDevice): Promise<Outcome> {
    await this.refresh();
    const loaded = await this.#loadForPost(facts, input.step, input.csrf, clientAddress);
    if ('kind' in loaded) return loaded;
    const { state, version, next } = loaded;
    // A step none of whose options is set up is answered only by the set-up page of the one being enrolled.
    const enrolling = next.outcome === 'unavailable';
    const usable = enrolling ? offered(next).filter((o) => o === state.enrolling) : next.usable ?? [];
    const chosen = state.chosen && usable.includes(state.chosen) ? state.chosen : usable.length === 1 ? usable[0] : undefined;
    const current = chosen ? this.#authenticators.get(chosen) : undefined;
    if (!current) return { kind: 'redirect', location: this.#url(facts.uid) };
    // A step out at an upstream provider is answered only by that provider's callback.
    if (state.awaiting !== undefined) return { kind: 'error', status: 409, code: 'wrong_step', message: 'This step is waiting for the sign-in at the other provider. Reload the page to continue.' };
    // Take a short lease on the state before asking the authenticator: of several racing
    // answers (two tabs, a replayed post) exactly one goes on; the rest are refused before
    // they can consume a code or count an attempt. Saving the outcome ends the lease.
    if (state.busyUntil !== undefined && state.busyUntil > epoch()) return conflict();
    if (!(await this.#states.save(facts.uid, { ...state, busyUntil: epoch() + 30 }, version))) return conflict();
    const ctx = { ...this.#context(facts.uid, state, next.step, current.id, input.fields, clientAddress), device };
    const result = enrolling ? await current.enrol!.finish(ctx) : await current.resume(ctx);
    return this.#apply(facts, { ...state, stepState: ctx.state }, version + 1, next.step, current, result, clientAddress, input.fields.remember_device === '1');
  }

  /**
   * "I saved them": the recovery codes shown after an enrolment were acknowledged, and the
   * login goes on. Until then it stays on that page (the step is satisfied, but no further
   * step is asked and no code is issued).
   */
  async acknowledgeRecoveryCodes(facts: InteractionFacts, input: { csrf: string }, clientAddress: string): Promise<Outcome> {
    await this.refresh();
    const loaded = await this.#states.load(facts.uid);
    if (!loaded) return { kind: 'error', status: 400, code: 'expired', message: 'This login has expired. Go back to the application and start again.' };
    if (!safeEqual(input.csrf, loaded.state.csrf)) return { kind: 'error', status: 403, code: 'csrf', message: 'This form is out of date. Reload the page and try again.' };
    if (!loaded.state.recoveryCodesDue) return { kind: 'redirect', location: this.#url(facts.uid) };
    const next: FlowState = { ...loaded.state, recoveryCodesDue: undefined, csrf: newCsrf() };
    if (!(await this.#states.save(facts.uid, next, loaded.version))) return conflict();
    const { plan: p } = await this.#planFor(facts, next, clientAddress);
    if (p.unmet) return { kind: 'deny', error: 'unmet_authentication_requirements', description: p.unmet };
    return p.complete ? this.#finish(facts, next, p) : { kind: 'next-step' };
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
    if (!current || state.awaiting !== input.authenticator || state.awaitingStep === undefined) {
      return { kind: 'error', status: 400, code: 'unexpected_callback', message: 'This sign-in response does not belong to the step in progress, or was already used. Go back to the application and start again.' };
    }
    // Claim the callback before anything else: a replayed or concurrent response finds it gone.
    const claimed: FlowState = { ...state, awaiting: undefined, awaitingStep: undefined };
    if (!(await this.#states.save(facts.uid, claimed, version))) return conflict();
    const ctx = this.#context(facts.uid, claimed, state.awaitingStep, current.id, input.query, clientAddress);
    const result = await current.resume(ctx);
    return this.#apply(facts, { ...claimed, stepState: ctx.state }, version + 1, state.awaitingStep, current, result, clientAddress);
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

  /**
   * Whether this browser session already satisfies the client's chain for this request
   * (every step that applies reused fresh enough, nothing left to ask): the interaction
   * policy's question. An unmet essential acr is "no": the runner then ends the login with
   * the error.
   */
  async sessionSatisfies(clientId: string, session: { uid: string; accountId: string; acr?: string }, request: RequestFacts, address: string): Promise<'yes' | 'no' | 'claims-differ'> {
    await this.refresh();
    const chain = await this.#chain(clientId);
    if (!chain) return 'no';
    const p = await this.plan(chain, { accountId: session.accountId, session, request, address });
    if (!p.complete || p.unmet || p.accountId !== session.accountId) return 'no';
    // A second factor an admin required is set up in a login, not skipped by single sign-on.
    if (await this.#enrolmentDue(session.accountId)) return 'no';
    // Nothing to ask, but the session's acr is another login's (another client's level
    // names): a pass through the runner, without a page, gives this client its own.
    return p.acr === session.acr ? 'yes' : 'claims-differ';
  }

  /**
   * Whether a refresh token may still mint tokens under the client's *current* chain: its
   * login reached at least the chain's default level, and the methods it used (its amr)
   * are still a way through every step that always applies now. A chain made stronger
   * since then refuses: sign in again. Steps that depend on the browser (network and
   * device conditions, remember) are left out: the refresh comes from the relying party,
   * not from the browser that signed in, and the login may rightly have skipped them.
   * Conditions on roles are read for the user as they are now.
   */
  async refreshAllowed(clientId: string, grant: { accountId: string; acr?: string; amr?: string[]; authTime?: number; gty?: string }): Promise<string | undefined> {
    await this.refresh();
    const chainText = await this.#chainOf(clientId);
    if (chainText === undefined) return 'the client is unknown';
    let chain: Chain;
    try {
      chain = this.#parseChain(chainText);
    } catch {
      return 'the client\'s chain names an authenticator that no longer exists';
    }
    const level = chain.levels?.[grant.acr ?? ''] ?? 1;
    if (level < (chain.defaultLevel ?? 1)) return `this sign-in reached level ${level}; the application now needs level ${chain.defaultLevel}`;
    // The decision is a pure plan of the chain's text, the login's acr and amr, whether it
    // was a SAML2 bearer grant, and the user's roles now; with a step's own maxAge it also
    // depends on the time. Else a refresh found allowed is remembered under all of those
    // (until the authenticators change): a client's refreshes plan the same chain again
    // and again (~8 % of a refresh's CPU, A/B on SQLite).
    const roles = await this.#rolesOf(grant.accountId);
    const saml = (grant.gty ?? '').includes('saml2-bearer');
    const memo = chain.steps.some((s) => s.maxAge !== undefined) ? undefined
      : JSON.stringify([chainText, grant.acr ?? null, [...new Set(grant.amr ?? [])].sort(), saml, [...roles].sort()]);
    if (memo !== undefined && this.#refreshesAllowed.has(memo)) return undefined;
    const methods = new Set(grant.amr ?? []);
    const at = grant.authTime ?? epoch();
    // The methods of the old login stand for every authenticator whose methods they cover;
    // a SAML2 bearer grant's assertion stood for the identifying first step.
    const sessionSteps: Satisfaction[] = [...this.#authenticators.values()]
      .filter((a) => a.amr.length > 0 && a.amr.every((m) => methods.has(m)))
      .map((a) => ({ authenticator: a.id, at }));
    const done = saml ? [{ step: 0, authenticator: 'saml2-bearer', amr: ['fed'], at }] : [];
    const browserBound = (s: Chain['steps'][number]) => s.remember !== undefined || [s.when, s.unless].some((c) => c?.network || c?.device);
    const always: Chain = { ...chain, steps: chain.steps.filter((s, i) => i === 0 || !browserBound(s)) };
    const p = await this.plan(always, { accountId: grant.accountId, done, sessionSteps, ssoFreshness: Number.MAX_SAFE_INTEGER });
    if (!p.complete) return `the application's sign-in now also needs ${p.next!.options.map((o) => this.label(o)).join(' or ')}`;
    if (memo !== undefined) {
      if (this.#refreshesAllowed.size >= 10_000) this.#refreshesAllowed.clear();
      this.#refreshesAllowed.add(memo);
    }
    return undefined;
  }

  /**
   * Satisfies a client's chain in one go, without a browser, at the chain's default level
   * (conditions apply; the device is new): `inputs` names every authenticator the caller can
   * feed, with its input (undefined when the caller has the means but the request lacked it,
   * e.g. no TOTP code). Each step goes through the same authenticators (`resume`), lockout
   * and same-subject rule as a browser login; a step that only an interactive authenticator
   * can satisfy refuses the whole request before any credential is checked (as far as it
   * can be known before the user is: a step depending on roles is decided once identified).
   */
  async satisfyDirectly(
    clientId: string,
    inputs: Record<string, Record<string, string> | undefined>,
    clientAddress: string,
    identified: { accountId: string; amr: string[]; by: string } | undefined,
    door: Exclude<Door, 'browser'>,
  ): Promise<DirectOutcome> {
    await this.refresh();
    const chainText = await this.#chainOf(clientId);
    if (chainText === undefined) return { kind: 'refused', code: 'unknown_client', message: 'unknown client' };
    let chain: Chain;
    try {
      chain = this.#parseChain(chainText);
    } catch {
      return { kind: 'refused', code: 'step_unavailable', message: 'this client\'s chain names an authenticator that no longer exists; an admin must fix the chain' };
    }
    const state: FlowState = { clientId, chain: chainText, satisfied: [], stepState: {}, csrf: '' };
    // An identity already established (a verified SAML assertion) stands for the first,
    // identifying step; every later step applies as usual, to that same subject.
    if (identified) {
      state.accountId = identified.accountId;
      state.satisfied.push({ step: 0, authenticator: identified.by, amr: identified.amr, at: epoch() });
    }
    const feedable = (options: string[]) => options.filter((o) => Object.hasOwn(inputs, o));
    const first = await this.plan(chain, { accountId: state.accountId, address: clientAddress, done: state.satisfied });
    const toAsk = first.steps.filter((s) => s.outcome === 'ask' && !s.pending);
    const interactive = toAsk.find((s) => feedable(s.options).length === 0);
    if (interactive) return this.#needsBrowser(interactive.step, interactive.options);
    const missing = toAsk.find((s) => feedable(s.options).every((o) => inputs[o] === undefined));
    if (missing) {
      const id = feedable(missing.options)[0]!;
      return { kind: 'refused', code: 'missing_input', message: `${this.label(id)} is required`, authenticator: id };
    }

    for (;;) {
      const p = await this.plan(chain, { accountId: state.accountId, address: clientAddress, done: state.satisfied });
      if (p.complete) return this.#complete(state, p);
      const next = p.next!;
      if (next.outcome === 'unavailable') {
        return { kind: 'refused', code: 'step_unavailable', message: `step ${next.step + 1} needs ${next.options.map((o) => this.label(o)).join(' or ')}, and this account has none set up` };
      }
      const fed = feedable(next.usable ?? []);
      if (feedable(next.options).length === 0) return this.#needsBrowser(next.step, next.options);
      const id = fed.find((o) => inputs[o] !== undefined);
      if (!id) {
        if (fed.length === 0) return { kind: 'refused', code: 'step_unavailable', message: `step ${next.step + 1} needs ${next.options.map((o) => this.label(o)).join(' or ')}, and this account has none set up` };
        return { kind: 'refused', code: 'missing_input', message: `${this.label(fed[0]!)} is required`, authenticator: fed[0] };
      }
      const chosen = this.#authenticators.get(id)!;
      const result = await chosen.resume({ input: inputs[id]!, accountId: state.accountId, state: {}, urls: { action: '', callback: '' }, clientAddress });
      const reported = { clientId, authenticator: id, step: next.step, address: clientAddress, door };
      if (result.kind === 'failure') {
        this.#events?.authStep({ ...reported, outcome: 'failure', reason: result.error.code, accountId: state.accountId ?? result.attempted });
        return { kind: 'refused', code: 'step_failed', message: result.error.message, authenticator: id };
      }
      if (result.kind !== 'success') return { kind: 'refused', code: 'interactive_chain', message: `${this.label(id)} needs a browser` };
      if (state.accountId !== undefined && result.accountId !== state.accountId) {
        return { kind: 'refused', code: 'subject_mismatch', message: 'the steps were satisfied by different users' };
      }
      this.#events?.authStep({ ...reported, outcome: 'success', accountId: result.accountId });
      state.accountId = result.accountId;
      state.satisfied.push({ step: next.step, authenticator: id, amr: result.amr, at: epoch() });
    }
  }

  #needsBrowser(step: number, options: string[]): DirectOutcome {
    return {
      kind: 'refused', code: 'interactive_chain',
      message: `step ${step + 1} of this client's authentication chain (${options.join(' or ')}) needs a browser`,
    };
  }

  /**
   * A stored chain can name an authenticator that has gone since (an identity provider
   * removed while a login was under way): that login cannot go on, and the person is told so.
   */
  #parse(text: string): Chain {
    try {
      return this.#parseChain(text);
    } catch (err) {
      if (!(err instanceof ChainError)) throw err;
      throw Object.assign(new Error('The sign-in methods of this application changed while you were signing in. Go back to the application and start again.'), { status: 409, expose: true });
    }
  }

  /**
   * The chain this login walks: the client's as it was when the login started, plus, once an
   * admin's "set up a second factor at the next login" is due (see #enrolmentDue), one more
   * step of the factors that can be set up here.
   */
  #chainFor(state: FlowState): Chain {
    const chain = this.#parse(state.chain);
    if (!state.requiredEnrolment) return chain;
    return { ...chain, steps: [...chain.steps, { options: this.enrollable() }] };
  }

  /** The authenticators a user can set up during a login (TOTP, passkey). */
  enrollable(): string[] {
    return [...this.#authenticators.values()].filter((a) => a.enrol !== undefined).map((a) => a.id);
  }

  /**
   * An admin required this account to set up a second factor at its next login
   * (users.requireEnrolment) and it still has none: asked once the client's chain is
   * otherwise done, so the chain's own steps (which may enrol one themselves) come first.
   */
  async #enrolmentDue(accountId: string | undefined): Promise<boolean> {
    if (accountId === undefined || !this.#enrolment) return false;
    return (await this.#enrolment.required(accountId)) && !(await this.#enrolment.hasSecondFactor(accountId));
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
    this.#parse(chainText);
    const state: FlowState = { clientId: facts.clientId, chain: chainText, satisfied: [], stepState: {}, csrf: newCsrf() };
    if (await this.#states.create(facts.uid, state, this.#ttl)) {
      this.#events?.emit('login.started', { clientId: facts.clientId });
      return { state, version: 1 };
    }
    // Another request created it first: go on with theirs.
    const stored = await this.#states.load(facts.uid);
    return stored ?? { kind: 'error', status: 400, code: 'expired', message: 'This login has expired. Go back to the application and start again.' };
  }

  /**
   * This login's plan: the steps done in it, the browser session's (single sign-on) and the
   * request. `known`: which options the user has set up, as an earlier plan of this login
   * read them (for a page only: see #advance).
   */
  async #planFor(facts: InteractionFacts, state: FlowState, clientAddress: string, known?: Record<string, boolean>): Promise<{ chain: Chain; plan: Plan; configured: Record<string, boolean> }> {
    const chain = this.#chainFor(state);
    const rememberedSince = state.accountId !== undefined && facts.device && this.#devices ? await this.#devices.since(facts.device, state.accountId) : undefined;
    const { plan: p, configured } = await this.#plan(chain, { accountId: state.accountId, address: clientAddress, done: state.satisfied, session: facts.session, request: facts.request, rememberedSince }, known);
    return { chain, plan: p, configured };
  }

  async #loadForPost(facts: InteractionFacts, step: number, csrf: string, clientAddress: string) {
    const loaded = await this.#states.load(facts.uid);
    if (!loaded) return { kind: 'error', status: 400, code: 'expired', message: 'This login has expired. Go back to the application and start again.' } as Outcome;
    if (!safeEqual(csrf, loaded.state.csrf)) {
      return { kind: 'error', status: 403, code: 'csrf', message: 'This form is out of date. Reload the page and try again.' } as Outcome;
    }
    const { plan: p, configured } = await this.#planFor(facts, loaded.state, clientAddress);
    // What the pages are drawn from (#advance) was out of date: corrected, so that the
    // page this answer sends the user back to is drawn right.
    if (loaded.state.configured && Object.entries(configured).some(([id, yes]) => loaded.state.configured![id] !== yes)) {
      const corrected: FlowState = { ...loaded.state, configured };
      if (!(await this.#states.save(facts.uid, corrected, loaded.version))) return conflict();
      Object.assign(loaded, { state: corrected, version: loaded.version + 1 });
    }
    const answerable = p.next?.outcome === 'ask' || (p.next?.outcome === 'unavailable' && (p.next.enrol ?? []).length > 0);
    if (!Number.isInteger(step) || !answerable || step !== p.next!.step) {
      return { kind: 'error', status: 409, code: 'wrong_step', message: 'That step is not the one this login is waiting for. Reload the page to continue.' } as Outcome;
    }
    return { ...loaded, next: p.next! };
  }

  async #advance(facts: InteractionFacts, state: FlowState, version: number, clientAddress: string): Promise<Outcome> {
    // The page of a step to ask is drawn from which options the user had set up when the
    // answer that led here planned it: drawing a form decides nothing, and its answer
    // plans afresh (#loadForPost). Any other outcome (the end, a denial, a step none of
    // whose options is set up) is decided on fresh reads.
    let planned = state.configured && await this.#planFor(facts, state, clientAddress, state.configured);
    if (!planned || planned.plan.unmet || planned.plan.complete || planned.plan.next?.outcome !== 'ask') planned = await this.#planFor(facts, state, clientAddress);
    const { chain, plan: p } = planned;
    // Reloaded after the codes were shown: they are not shown again (the account page makes a new set).
    if (state.recoveryCodesDue) return this.#recoveryCodesPage(facts.uid, state, chain, undefined);
    if (p.unmet) return { kind: 'deny', error: 'unmet_authentication_requirements', description: p.unmet };
    if (state.accountId === undefined && p.accountId !== undefined) {
      // Steps reused from the browser session identified the user: fixed for the rest of
      // this login, and planned again now that roles and set-up factors can be read.
      const identified: FlowState = { ...state, accountId: p.accountId };
      if (!(await this.#states.save(facts.uid, identified, version))) return conflict();
      return this.#advance(facts, identified, version + 1, clientAddress);
    }
    if (p.complete) {
      if (state.requiredEnrolment || !(await this.#enrolmentDue(state.accountId))) return this.#finish(facts, state, p);
      const more: FlowState = { ...state, requiredEnrolment: true };
      if (!(await this.#states.save(facts.uid, more, version))) return conflict();
      return this.#advance(facts, more, version + 1, clientAddress);
    }
    const next = p.next!;
    if (next.outcome === 'unavailable') return this.#offerEnrolment(facts, state, version, chain, next, clientAddress);
    const usable = next.usable!;
    const chosen = state.chosen && usable.includes(state.chosen) ? state.chosen : usable.length === 1 ? usable[0] : undefined;
    const common = this.#locals(facts.uid, state, chain, next.step, usable);
    if (!chosen) {
      return { kind: 'render', view: 'views/choose', status: 200, locals: { ...common, options: usable.map((id) => ({ id, label: this.label(id) })) } };
    }
    const authenticator = this.#authenticators.get(chosen)!;
    const ctx = this.#context(facts.uid, state, next.step, authenticator.id, {}, clientAddress);
    const result = await authenticator.start(ctx);
    // A fresh start replaces any earlier trip upstream: its late callback will not be accepted.
    // An option implied by being the only usable one is not stored (answer() infers it the
    // same way), so showing a step that keeps no state of its own writes nothing.
    const shown: FlowState = { ...state, chosen: state.chosen === chosen ? chosen : usable.length === 1 ? state.chosen : chosen, stepState: ctx.state, awaiting: undefined, awaitingStep: undefined };
    return this.#apply(facts, shown, version, next.step, authenticator, result, clientAddress, false, state);
  }

  /**
   * No option of this step is set up for this user. When the policy allows and the account
   * has no second factor yet, one of the step's enrollable options is set up right here
   * (the user picks which when there are several); otherwise the dead end is explained.
   */
  async #offerEnrolment(facts: InteractionFacts, state: FlowState, version: number, chain: Chain, next: PlannedStep, clientAddress: string): Promise<Outcome> {
    const enrollable = offered(next);
    const policy = this.#enrolment && state.accountId ? await this.#enrolment.policy(state.clientId) : undefined;
    // An admin's requirement (users.requireEnrolment) stands above the client's policy.
    const allowed = policy !== undefined && enrollable.length > 0 && (policy === 'at-login' || (await this.#enrolment!.required(state.accountId!)))
      && !(await this.#enrolment!.hasSecondFactor(state.accountId!));
    if (!allowed) {
      return { kind: 'error', status: 403, code: 'step_unavailable', message: unavailableMessage(next.options.map((o) => this.label(o)).join(' or '), next.step + 1, policy, enrollable.length > 0) };
    }
    const chosen = state.chosen && enrollable.includes(state.chosen) ? state.chosen : enrollable.length === 1 ? enrollable[0] : undefined;
    const common = this.#locals(facts.uid, state, chain, next.step, enrollable);
    if (!chosen) {
      return { kind: 'render', view: 'views/choose', status: 200, locals: { ...common, enrolment: true, options: enrollable.map((id) => ({ id, label: this.label(id) })) } };
    }
    const authenticator = this.#authenticators.get(chosen)!;
    const ctx = this.#context(facts.uid, state, next.step, authenticator.id, {}, clientAddress);
    const result = await authenticator.enrol!.start(ctx);
    return this.#apply(facts, { ...state, chosen, enrolling: chosen, stepState: ctx.state, awaiting: undefined, awaitingStep: undefined }, version, next.step, authenticator, result, clientAddress);
  }

  #recoveryCodesPage(uid: string, state: FlowState, chain: Chain, codes: string[] | undefined): Outcome {
    return {
      kind: 'render', view: 'views/recovery-codes', status: 200,
      locals: { ...this.#locals(uid, state, chain, state.satisfied.at(-1)?.step ?? 0, []), codes, acknowledgeAction: `${this.#url(uid)}/recovery-codes` },
    };
  }

  /** `stored`: the state as loaded, when this is a page shown (a challenge equal to it is not saved again). */
  async #apply(facts: InteractionFacts, leased: FlowState, version: number, index: number, authenticator: Authenticator, result: StepResult, clientAddress: string, rememberDevice = false, stored?: FlowState): Promise<Outcome> {
    const state: FlowState = { ...leased, busyUntil: undefined };
    const chain = this.#chainFor(state);
    const usable = chain.steps[index]!.options;
    switch (result.kind) {
      case 'challenge':
      case 'failure': {
        const unchanged = result.kind === 'challenge' && stored !== undefined && JSON.stringify(state) === JSON.stringify(stored);
        if (!unchanged && !(await this.#states.save(facts.uid, state, version))) return conflict();
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
        if (!(await this.#states.save(facts.uid, { ...state, awaiting: authenticator.id, awaitingStep: index }, version))) return conflict();
        return { kind: 'redirect', location: result.location.href, external: true };
      case 'success': {
        // The subject is fixed by the first identifying step; every later step must be
        // satisfied by that same user.
        if (state.accountId !== undefined && result.accountId !== state.accountId) {
          return { kind: 'error', status: 403, code: 'subject_mismatch', message: 'That step was completed as a different user. Start again from the application.' };
        }
        const satisfied: SatisfiedStep = { step: index, authenticator: authenticator.id, amr: result.amr, at: epoch(), ...(result.upstream ? { upstream: result.upstream } : {}) };
        const enrolled = state.enrolling === authenticator.id;
        // (`configured` is what the step's own plan read: #satisfied replaces it; after a set-up
        // or a remembered browser the next page reads afresh)
        const next: FlowState = {
          ...state, accountId: result.accountId, satisfied: [...state.satisfied, satisfied], configured: undefined,
          chosen: undefined, enrolling: undefined, stepState: {}, awaiting: undefined, awaitingStep: undefined, csrf: newCsrf(), ...(enrolled && { recoveryCodesDue: true }),
        };
        // The person asked to remember this browser, on a step that allows it.
        const seconds = chain.steps[index]!.remember;
        const remembering = rememberDevice && seconds !== undefined && this.#devices !== undefined;
        if (!enrolled && !remembering) return this.#satisfied(facts, next, version, index, authenticator.id, clientAddress);
        if (!(await this.#states.save(facts.uid, next, version))) return conflict();
        this.#events?.authStep({ clientId: state.clientId, authenticator: authenticator.id, step: index, outcome: 'success', accountId: result.accountId, address: clientAddress, door: 'browser' });
        let device: string | undefined;
        if (remembering) {
          const known = facts.device !== undefined && (await this.#devices!.since(facts.device, result.accountId)) !== undefined;
          device = facts.device ?? RememberedDevices.newDeviceId();
          await this.#devices!.remember(device, result.accountId, facts.userAgent, seconds!);
          if (!known) this.#events?.emit('device.remembered', { accountId: result.accountId, userAgent: facts.userAgent, address: clientAddress });
        }
        if (enrolled) {
          await this.#enrolment!.enrolled({ accountId: result.accountId, clientId: state.clientId, authenticator: authenticator.id, address: clientAddress });
          return this.#recoveryCodesPage(facts.uid, next, chain, await this.#enrolment!.newRecoveryCodes(result.accountId));
        }
        // Re-planned with the user now known: conditions on roles, their set-up factors
        // and the session's steps for this subject decide what is left.
        const { plan: p } = await this.#planFor({ ...facts, ...(device ? { device } : {}) }, next, clientAddress);
        if (p.unmet) return { kind: 'deny', error: 'unmet_authentication_requirements', description: p.unmet };
        if (p.complete && (next.requiredEnrolment || !(await this.#enrolmentDue(next.accountId)))) return { ...(await this.#finish(facts, next, p)), ...(device ? { device } : {}) };
        // Otherwise a step is left (maybe the required enrolment, added when the next page is drawn).
        return { kind: 'next-step', ...(device ? { device } : {}) };
      }
    }
  }

  /**
   * A step was satisfied and nothing is to be written before the plan says what is left:
   * one statement then both wins the race for the state (its version) and records the
   * outcome. A login that is complete (or denied) no longer needs its state, so that
   * statement removes it; otherwise it saves it under the id the interaction is about to
   * be given (rotateInteraction), so the rotation need not move it.
   */
  async #satisfied(facts: InteractionFacts, next: FlowState, version: number, index: number, authenticator: string, clientAddress: string): Promise<Outcome> {
    const { plan: p, configured } = await this.#planFor(facts, next, clientAddress);
    const complete = !p.unmet && p.complete && (next.requiredEnrolment || !(await this.#enrolmentDue(next.accountId)));
    const movedTo = p.unmet || complete ? undefined : newInteractionUid();
    const won = movedTo === undefined ? await this.#states.removeAt(facts.uid, version) : await this.#states.save(facts.uid, { ...next, configured }, version, movedTo);
    if (!won) return conflict();
    this.#events?.authStep({ clientId: next.clientId, authenticator, step: index, outcome: 'success', accountId: next.accountId, address: clientAddress, door: 'browser' });
    if (p.unmet) return { kind: 'deny', error: 'unmet_authentication_requirements', description: p.unmet, stateRemoved: true };
    if (complete) return { ...(await this.#finish(facts, next, p)), stateRemoved: true } as Outcome;
    return { kind: 'next-step', movedTo };
  }

  /** The login is complete: a remembered browser that spared a step is noted as used. */
  async #finish(facts: InteractionFacts, state: FlowState, p: Plan): Promise<Outcome> {
    if (facts.device && this.#devices && p.steps.some((s) => s.remembered)) await this.#devices.touch(facts.device, state.accountId!);
    return this.#complete(state, p);
  }

  #complete(state: FlowState, p: Plan): { kind: 'complete'; result: LoginResult } {
    this.#events?.emit('login.completed', { clientId: state.clientId });
    return {
      kind: 'complete',
      result: {
        login: {
          accountId: state.accountId!,
          amr: p.amr,
          acr: p.acr,
          // auth_time is when the oldest step used was satisfied: max_age must see the age
          // of every factor, not of the newest one.
          ts: p.authTime ?? epoch(),
          remember: true,
        },
        stepgate: { steps: p.used },
      },
    };
  }

  #context(uid: string, state: FlowState, index: number, authenticatorId: string, input: Record<string, string>, clientAddress: string): StepContext {
    return {
      input,
      accountId: state.accountId,
      // the step's own copy; stored as JSON, so copied as JSON (structuredClone costs ten times more)
      state: JSON.parse(JSON.stringify(state.stepState)) as Record<string, unknown>,
      urls: { action: `${this.#url(uid)}/step/${index}`, callback: `${this.#basePath}/federation/${authenticatorId}/callback` },
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
      // seconds: the step's page offers "Remember this device for 30 days" (in the page's language)
      rememberFor: chain.steps[index]!.remember,
    };
  }

  #url(uid: string): string {
    return `${this.#basePath}/interaction/${uid}`;
  }
}

function conflict(): Outcome {
  return { kind: 'error', status: 409, code: 'conflict', message: 'This step was answered in another window. Reload the page to continue.' };
}

/** The options a step offers: those set up (ask), or those that can be set up now (unavailable). */
function offered(next: PlannedStep): string[] {
  return next.outcome === 'unavailable' ? next.enrol ?? [] : next.usable ?? [];
}
