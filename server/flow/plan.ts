import { BlockList, isIP } from 'node:net';
import { levelName, parseCidr, type Chain, type Cond, type Step } from './chain.ts';

/**
 * The one decision of the chain engine (DESIGN.md section 2), as a pure function: given a
 * chain and what is known of a login, what happens at every step, and what the login is
 * worth (acr, amr, auth_time). The runner, the interaction policy, the password and SAML
 * grants, the refresh check and the simulator all ask it; none decides on its own.
 */

/** acr of chains without levels: one factor category, or two. */
export const ACR_SINGLE = 'urn:stepgate:acr:single-step';
export const ACR_MULTI = 'urn:stepgate:acr:multi-step';

/** RFC 8176 methods by factor category; "mfa" needs two categories. `fed`, `user` and the like are none. */
const CATEGORY: Record<string, 'knowledge' | 'possession' | 'inherence'> = {
  pwd: 'knowledge', pin: 'knowledge', kba: 'knowledge',
  otp: 'possession', hwk: 'possession', swk: 'possession', sms: 'possession', tel: 'possession',
  fpt: 'inherence', face: 'inherence', iris: 'inherence', retina: 'inherence', vbm: 'inherence',
};

export function factorCategories(amr: Iterable<string>): Set<string> {
  return new Set([...amr].flatMap((m) => (CATEGORY[m] ? [CATEGORY[m]] : [])));
}

/** A step satisfied, in this login or earlier in this browser session. */
export type Satisfaction = {
  authenticator: string;
  /** epoch seconds */
  at: number;
  /** methods the success stood for (defaults to the authenticator's) */
  amr?: string[];
  /** an upstream provider's amr, already mapped, kept only when an admin trusts that provider */
  upstreamAmr?: string[];
};

export type AuthenticatorFacts = {
  amr: string[];
  /** false when the identified user cannot use it (no TOTP enrolled, no linked identity) */
  configured?: boolean;
  /** whether the user could enrol it during the login */
  enrollable?: boolean;
};

export type PlanContext = {
  now: number;
  /** the user, once a step has identified them (or the simulator names one) */
  user?: { id: string; roles: string[] };
  /** the client's network address */
  address?: string;
  /** when this browser was remembered for this user; absent: a new device */
  rememberedSince?: number;
  /** steps satisfied in this login, by step index */
  done?: Record<number, Satisfaction>;
  /** the browser session, for single sign-on: whose it is and what it satisfied when */
  session?: { accountId: string; steps: Satisfaction[] };
  /** what the relying party asked for */
  request?: {
    acrValues?: string[];
    /** values of an essential `acr` claim in the claims parameter */
    essentialAcr?: string[];
    maxAge?: number;
    prompt?: string[];
    /** the subject of the id_token_hint */
    hintSubject?: string;
  };
  authenticators: Record<string, AuthenticatorFacts>;
  /** default seconds a step may be reused by single sign-on */
  ssoFreshness: number;
};

export type PlannedStep = {
  /** 0-based index in the chain */
  step: number;
  options: string[];
  outcome: 'ask' | 'satisfied' | 'skip' | 'unavailable';
  /** ask: the options this user can use */
  usable?: string[];
  /** satisfied: by which authenticator, when, and whether an upstream provider's amr did it */
  by?: string;
  at?: number;
  reused?: boolean;
  upstream?: boolean;
  /** unavailable: the options the user could enrol now */
  enrol?: string[];
  /** ask, for now: a condition on roles decides once the user is identified */
  pending?: boolean;
  /** skip: because this browser is remembered for the user */
  remembered?: boolean;
  /** why, in words (for the simulator and logs) */
  reason: string;
};

export type Plan = {
  steps: PlannedStep[];
  /** the level this login must reach */
  target: number;
  /** the first step to ask (or that is unavailable), if any */
  next?: PlannedStep;
  complete: boolean;
  /** the subject fixed so far (by this login or a reused session step) */
  accountId?: string;
  acr: string;
  amr: string[];
  /** the oldest satisfied step used (auth_time) */
  authTime?: number;
  /** the steps used, for the browser session's single sign-on record */
  used: Satisfaction[];
  /** set when an essential acr cannot be had: the login must end in unmet_authentication_requirements */
  unmet?: string;
};

/** A network condition: the client address inside any listed CIDR (IPv4-mapped IPv6 counts as IPv4). */
export function inNetworks(address: string | undefined, networks: string[]): boolean {
  if (!address) return false;
  const plain = address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
  const family = isIP(plain);
  if (family === 0) return false;
  const list = new BlockList();
  for (const n of networks) {
    const c = parseCidr(n);
    if (c) list.addSubnet(c.address, c.prefix, c.type);
  }
  return list.check(plain, family === 4 ? 'ipv4' : 'ipv6');
}

/** Whether a condition holds; undefined when it reads the user's roles and no user is known yet. */
function holds(cond: Cond, ctx: PlanContext): { ok: boolean | undefined; what: string } {
  const parts: { ok: boolean | undefined; what: string }[] = [];
  if (cond.role) parts.push({ ok: ctx.user ? ctx.user.roles.some((r) => cond.role!.includes(r)) : undefined, what: `role ${cond.role.join(' or ')}` });
  if (cond.network) parts.push({ ok: inNetworks(ctx.address, cond.network), what: `address in ${cond.network.join(', ')}` });
  if (cond.device) parts.push({ ok: (ctx.rememberedSince !== undefined) === (cond.device === 'remembered'), what: `${cond.device} device` });
  const failed = parts.find((p) => p.ok === false);
  if (failed) return { ok: false, what: failed.what };
  const unknown = parts.find((p) => p.ok === undefined);
  return { ok: unknown ? undefined : true, what: parts.map((p) => p.what).join(' and ') };
}

/** The target level: the chain's default, raised by the first requested acr the chain knows. */
function targetOf(chain: Chain, ctx: PlanContext): { target: number; unmet?: string } {
  const base = chain.defaultLevel ?? 1;
  const request = ctx.request ?? {};
  const known = (v: string) => chain.levels?.[v];
  let target = base;
  const asked = request.acrValues?.map(known).find((n) => n !== undefined);
  if (asked !== undefined) target = Math.max(target, asked);
  if (request.essentialAcr?.length) {
    if (chain.levels) {
      const essential = request.essentialAcr.map(known).find((n) => n !== undefined);
      if (essential === undefined) return { target, unmet: `none of the essential acr values (${request.essentialAcr.join(', ')}) is a level of this application` };
      target = Math.max(target, essential);
    } else if (!request.essentialAcr.some((v) => v === ACR_SINGLE || v === ACR_MULTI)) {
      return { target, unmet: `none of the essential acr values (${request.essentialAcr.join(', ')}) is offered by this application` };
    }
  }
  return { target };
}

/**
 * Plans a login. Each step, in order, is one of:
 * - skip: above the target level, its condition does not hold, or this browser is remembered for it;
 * - satisfied: in this login, reused from the browser session (fresh enough for the step's
 *   maxAge and the request's max_age; never with prompt=login, nor for another subject than
 *   an id_token_hint names), or by a trusted upstream provider's amr;
 * - ask: with the options this user can use;
 * - unavailable: the user has none of the options set up.
 */
export function plan(chain: Chain, ctx: PlanContext): Plan {
  const { target, unmet: unmetTarget } = targetOf(chain, ctx);
  const request = ctx.request ?? {};
  const facts = (id: string): AuthenticatorFacts => ctx.authenticators[id] ?? { amr: [] };
  let subject = ctx.user?.id;
  const session = ctx.session;
  // Single sign-on is for the session's own subject, and only when the request allows reuse.
  const sessionUsable = session !== undefined
    && !(request.prompt ?? []).includes('login')
    && (request.hintSubject === undefined || request.hintSubject === session.accountId);

  const steps: PlannedStep[] = [];
  const used: (Satisfaction & { amr: string[] })[] = [];

  const reusable = (step: Step, s: Satisfaction) => {
    const age = ctx.now - s.at;
    return age <= (step.maxAge ?? ctx.ssoFreshness) && (request.maxAge === undefined || age <= request.maxAge);
  };

  for (const [index, step] of chain.steps.entries()) {
    const base = { step: index, options: step.options };
    const done = ctx.done?.[index];
    if (done) {
      const amr = done.amr ?? facts(done.authenticator).amr;
      used.push({ ...done, amr });
      steps.push({ ...base, outcome: 'satisfied', by: done.authenticator, at: done.at, reason: `satisfied by ${done.authenticator} in this sign-in` });
      continue;
    }
    if ((step.level ?? 1) > target) {
      steps.push({ ...base, outcome: 'skip', reason: `only for level ${step.level}${levelName(chain, step.level!) ? ` (${levelName(chain, step.level!)})` : ''}; this sign-in needs level ${target}` });
      continue;
    }
    let pendingRole: string | undefined;
    let skipped: string | undefined;
    if (step.when) {
      const h = holds(step.when, ctx);
      if (h.ok === false) skipped = `condition not met: only with ${h.what}`;
      else if (h.ok === undefined) pendingRole = h.what;
    }
    if (!skipped && step.unless) {
      const h = holds(step.unless, ctx);
      if (h.ok === true) skipped = `condition met: not with ${h.what}`;
      else if (h.ok === undefined) pendingRole = h.what;
    }
    if (skipped) {
      steps.push({ ...base, outcome: 'skip', reason: skipped });
      continue;
    }
    if (step.remember !== undefined && ctx.rememberedSince !== undefined && ctx.now - ctx.rememberedSince <= step.remember) {
      steps.push({ ...base, outcome: 'skip', remembered: true, reason: 'this device is remembered for this user' });
      continue;
    }

    // Reuse from the browser session, for the session's subject only.
    if (sessionUsable && (subject === undefined || subject === session.accountId)) {
      const found = step.options.map((o) => session.steps.find((s) => s.authenticator === o && reusable(step, s))).find(Boolean);
      if (found) {
        // A reused step fixes the subject only when nothing before it is still to be asked
        // (an asked first step may identify someone else).
        if (!steps.some((s) => s.outcome === 'ask' || s.outcome === 'unavailable')) subject = session.accountId;
        const amr = found.amr ?? facts(found.authenticator).amr;
        used.push({ ...found, amr });
        steps.push({ ...base, outcome: 'satisfied', by: found.authenticator, at: found.at, reused: true, reason: `reused from this browser's sign-in ${ctx.now - found.at}s ago` });
        continue;
      }
    }

    // An upstream provider an admin trusts may already have done what this step asks
    // (its amr says otp, or mfa, for a TOTP step).
    const byUpstream = used.find((u) => u.upstreamAmr?.length && reusableByUpstream(step, u, facts, ctx, request.maxAge));
    if (byUpstream) {
      steps.push({ ...base, outcome: 'satisfied', by: byUpstream.authenticator, at: byUpstream.at, upstream: true, reason: `satisfied by ${byUpstream.authenticator}'s upstream login (amr ${byUpstream.upstreamAmr!.join(' ')})` });
      continue;
    }

    // To be asked: with the options this user has set up (all of them while nobody is identified).
    const usable = step.options.filter((o) => subject === undefined || facts(o).configured !== false);
    const why = pendingRole ? `; applies unless the user's roles say otherwise (${pendingRole}), known once identified` : '';
    if (usable.length === 0) {
      const enrol = step.options.filter((o) => facts(o).enrollable);
      steps.push({ ...base, outcome: 'unavailable', enrol, reason: `the user has none of ${step.options.join(', ')} set up${enrol.length ? `; can enrol ${enrol.join(' or ')} now` : ''}` });
      continue;
    }
    steps.push({ ...base, outcome: 'ask', usable, reason: `to ask: ${usable.join(' or ')}${why}`, ...(pendingRole ? { pending: true } : {}) });
  }

  const next = steps.find((s) => s.outcome === 'ask' || s.outcome === 'unavailable');
  const complete = next === undefined;
  const amrSet = new Set<string>();
  for (const u of used) {
    for (const m of u.amr) amrSet.add(m);
    for (const m of u.upstreamAmr ?? []) amrSet.add(m);
  }
  const multiFactor = factorCategories(amrSet).size >= 2 || amrSet.has('mfa');
  amrSet.delete('mfa');
  const amr = [...amrSet];
  if (multiFactor) amr.push('mfa');

  let acr: string;
  let unmet = unmetTarget;
  if (chain.levels) {
    acr = levelName(chain, target)!;
    const essential = request.essentialAcr;
    if (!unmet && essential?.length && !essential.includes(acr)) {
      // A higher level than an essential one asked for meets it: answer with the asked name.
      const met = essential.filter((v) => (chain.levels![v] ?? Infinity) <= target).sort((a, b) => chain.levels![b]! - chain.levels![a]!)[0];
      if (met) acr = met;
    }
  } else {
    acr = multiFactor ? ACR_MULTI : ACR_SINGLE;
    const essential = request.essentialAcr;
    if (!unmet && complete && essential?.length && !essential.includes(acr)) {
      if (essential.includes(ACR_SINGLE)) acr = ACR_SINGLE;
      else unmet = `this sign-in did not use two kinds of factor, so ${ACR_MULTI} cannot be given`;
    }
  }
  const times = used.map((u) => u.at);
  return {
    steps, target, next, complete, accountId: subject, acr, amr,
    authTime: times.length ? Math.min(...times) : undefined,
    used: used.map(({ authenticator, at, amr: a, upstreamAmr }) => ({ authenticator, at, amr: a, ...(upstreamAmr ? { upstreamAmr } : {}) })),
    ...(unmet ? { unmet } : {}),
  };
}

/** Whether a trusted upstream login `u` stands for `step`: the upstream reported each method an option stands for (or mfa, for a non-knowledge factor). */
function reusableByUpstream(step: Step, u: Satisfaction, facts: (id: string) => AuthenticatorFacts, ctx: PlanContext, maxAge: number | undefined): boolean {
  const age = ctx.now - u.at;
  if (age > (step.maxAge ?? ctx.ssoFreshness) || (maxAge !== undefined && age > maxAge)) return false;
  const reported = new Set(u.upstreamAmr);
  return step.options.some((o) => {
    if (o === u.authenticator) return false;
    const methods = facts(o).amr;
    if (methods.length === 0 || methods.includes('fed')) return false;
    return methods.every((m) => reported.has(m) || (reported.has('mfa') && CATEGORY[m] !== undefined && CATEGORY[m] !== 'knowledge'));
  });
}
