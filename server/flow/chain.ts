import { isIP } from 'node:net';
import { z } from 'zod';

/**
 * A client's authentication chain (DESIGN.md section 2): ordered steps, each satisfied by
 * any one of its alternative authenticators, with optional levels (step-up), conditions,
 * per-step freshness and remembered devices.
 *
 * Two written forms. Text, for simple chains: steps separated by ",", alternatives inside a
 * step by "|" — "password,totp" or "google|password,totp". JSON, for everything else:
 * {"steps":[{"options":["password"]},{"options":["totp"],"level":2}],"levels":{"urn:x:loa:2":2}}.
 * Storage keeps the text form whenever it can say everything (formatChain).
 */
export type Cond = { role?: string[]; network?: string[]; device?: 'new' | 'remembered' };
export type Step = {
  options: string[];
  /** applies when the login's target level is at least this (default 1) */
  level?: number;
  /** applies only when `when` holds and `unless` does not */
  when?: Cond;
  unless?: Cond;
  /** seconds a satisfied step may be reused by single sign-on (default: the server's ssoFreshness) */
  maxAge?: number;
  /** seconds a browser may be remembered for this step (it is then skipped for that user) */
  remember?: number;
};
export type Chain = { steps: Step[]; levels?: Record<string, number>; defaultLevel?: number };

export class ChainError extends Error {}

/** What the parser needs to know of each authenticator. */
export type AuthenticatorCatalog = { has(id: string): boolean; requiresUser(id: string): boolean };

const NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const TEN_YEARS = 10 * 365 * 24 * 3600;

const seconds = z.number().int('must be a whole number of seconds').min(0, 'must not be negative').max(TEN_YEARS, 'must be at most ten years');
const level = z.number().int('must be a whole number').min(1, 'must be 1 or more').max(1000);
const cidr = z.string().refine((v) => parseCidr(v) !== undefined, { message: 'is not an IPv4 or IPv6 network in CIDR form, e.g. 10.0.0.0/8 or 2001:db8::/32' });
const cond = z.strictObject({
  role: z.array(z.string().min(1).max(64)).min(1).optional(),
  network: z.array(cidr).min(1).optional(),
  device: z.enum(['new', 'remembered']).optional(),
});
const stepSchema = z.strictObject({
  options: z.array(z.string()).min(1, 'must name at least one authenticator'),
  level: level.optional(),
  when: cond.optional(),
  unless: cond.optional(),
  maxAge: seconds.optional(),
  remember: seconds.min(1, 'must be 1 or more').optional(),
});
const chainSchema = z.strictObject({
  steps: z.array(stepSchema).min(1, 'must have at least one step').max(20),
  levels: z.record(z.string().min(1).max(255), level).optional(),
  defaultLevel: level.optional(),
});

function at(path: PropertyKey[]): string {
  return path.reduce<string>((out, key) => (typeof key === 'number' ? `${out}[${key}]` : out ? `${out}.${String(key)}` : String(key)), '');
}

/**
 * Parses and validates a chain in either form (a string, or an already-parsed JSON object).
 * Refuses, with the path of the first fault: an empty chain, an unknown key or
 * authenticator, a step repeating an alternative, a first step that cannot identify a user
 * (TOTP cannot tell who is logging in) or that depends on the user (role, device, remember),
 * a bad CIDR, negative seconds, and a level that has no name in `levels`.
 */
export function parseChain(input: string | unknown, catalog: AuthenticatorCatalog): Chain {
  if (typeof input !== 'string') return validate(input, catalog);
  const trimmed = input.trim();
  if (trimmed === '') throw new ChainError('chain is empty: name at least one step, e.g. "password,totp"');
  if (trimmed.startsWith('{')) {
    let value: unknown;
    try {
      value = JSON.parse(trimmed);
    } catch (err) {
      throw new ChainError(`chain is not valid JSON: ${(err as Error).message}`);
    }
    return validate(value, catalog);
  }
  const steps = trimmed.split(',').map((stepText, index) => {
    const options = stepText.split('|').map((o) => o.trim().toLowerCase());
    if (options.some((o) => o === '')) throw new ChainError(`step ${index + 1} of "${trimmed}" is empty`);
    return { options };
  });
  return validate({ steps }, catalog);
}

function validate(value: unknown, catalog: AuthenticatorCatalog): Chain {
  const parsed = chainSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const where = at(issue.path);
    const message = issue.code === 'unrecognized_keys' ? `unknown key ${issue.keys.map((k) => `"${k}"`).join(', ')}` : issue.message;
    throw new ChainError(where ? `${where}: ${message}` : message);
  }
  const chain = parsed.data as Chain;
  for (const [index, step] of chain.steps.entries()) {
    const path = `steps[${index}]`;
    for (const option of step.options) {
      if (!NAME.test(option)) throw new ChainError(`${path}.options: "${option}" is not a valid authenticator name`);
      if (!catalog.has(option)) throw new ChainError(`${path}.options: unknown authenticator "${option}" in step ${index + 1}`);
      if (index === 0 && catalog.requiresUser(option)) {
        throw new ChainError(`${path}.options: "${option}" cannot be in the first step: it needs a user identified by an earlier step`);
      }
    }
    if (new Set(step.options).size !== step.options.length) throw new ChainError(`${path}.options: step ${index + 1} names an alternative twice`);
    if (index === 0) {
      // The first step is the one that says who the user is: nothing about the user can
      // decide whether it applies, and skipping it would leave no one identified.
      if (step.remember !== undefined) throw new ChainError(`${path}.remember: the first step identifies the user and cannot be remembered`);
      for (const key of ['when', 'unless'] as const) {
        if (step[key]) throw new ChainError(`${path}.${key}: the first step identifies the user and always applies`);
      }
      if ((step.level ?? 1) > (chain.defaultLevel ?? 1)) throw new ChainError(`${path}.level: the first step identifies the user and must apply at the default level`);
    }
  }
  const named = new Set(Object.values(chain.levels ?? {}));
  const used: [string, number][] = [['defaultLevel', chain.defaultLevel ?? 1], ...chain.steps.map((s, i): [string, number] => [`steps[${i}].level`, s.level ?? 1])];
  for (const [path, n] of used) {
    if (chain.levels ? !named.has(n) : n !== 1) {
      throw new ChainError(`${path}: level ${n} has no name: add it to "levels", e.g. {"urn:example:loa:${n}": ${n}}`);
    }
  }
  return chain;
}

/** True when the chain says nothing the text form cannot. */
function isSimple(chain: Chain): boolean {
  return chain.levels === undefined && chain.defaultLevel === undefined
    && chain.steps.every((s) => Object.keys(s).every((k) => k === 'options'));
}

/** The stored form: text when simple, compact JSON otherwise. */
export function formatChain(chain: Chain): string {
  if (isSimple(chain)) return chain.steps.map((s) => s.options.join('|')).join(',');
  return JSON.stringify(chain);
}

/** The name of level `n` in this chain, if it has one. */
export function levelName(chain: Chain, n: number): string | undefined {
  return Object.entries(chain.levels ?? {}).find(([, v]) => v === n)?.[0];
}

/** "1 hour", "30 days", "90 seconds". */
export function duration(s: number): string {
  for (const [unit, size] of [['day', 86400], ['hour', 3600], ['minute', 60]] as const) {
    if (s >= size && s % size === 0) return `${s / size} ${unit}${s / size === 1 ? '' : 's'}`;
  }
  return `${s} second${s === 1 ? '' : 's'}`;
}

function describeCond(c: Cond, negate: boolean): string[] {
  const out: string[] = [];
  if (c.role) out.push(`${negate ? 'not for' : 'only for'} role ${c.role.join(' or ')}`);
  if (c.network) out.push(`${negate ? 'not from' : 'only from'} ${c.network.join(', ')}`);
  if (c.device) out.push(`${negate ? 'not on' : 'only on'} ${c.device === 'new' ? 'a new device' : 'a remembered device'}`);
  return out;
}

/**
 * What a person will face, in plain words: "Step 1: Password. Step 2: Authenticator app —
 * only for level 2 (urn:…), not from 10.0.0.0/8, asked again after 1 hour, can be
 * remembered for 30 days."
 */
export function describeChain(chain: Chain, label: (id: string) => string = (id) => id): string {
  return chain.steps.map((s, i) => {
    const notes: string[] = [];
    if ((s.level ?? 1) > (chain.defaultLevel ?? 1)) notes.push(`only for level ${s.level} (acr ${levelName(chain, s.level!)})`);
    if (s.when) notes.push(...describeCond(s.when, false));
    if (s.unless) notes.push(...describeCond(s.unless, true));
    if (s.maxAge !== undefined) notes.push(`asked again after ${duration(s.maxAge)}`);
    if (s.remember !== undefined) notes.push(`can be remembered for ${duration(s.remember)}`);
    return `Step ${i + 1}: ${s.options.map(label).join(' or ')}${notes.length ? ` — ${notes.join(', ')}` : ''}.`;
  }).join(' ');
}

/** A CIDR network ("10.0.0.0/8", "2001:db8::/32", or one address), or undefined when malformed. */
export function parseCidr(text: string): { address: string; prefix: number; type: 'ipv4' | 'ipv6' } | undefined {
  const [address = '', prefixText, extra] = text.split('/');
  if (extra !== undefined) return undefined;
  const family = isIP(address);
  if (family === 0) return undefined;
  const max = family === 4 ? 32 : 128;
  if (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (prefix > max) return undefined;
  return { address, prefix, type: family === 4 ? 'ipv4' : 'ipv6' };
}

/** Freezes a parsed chain and everything in it: one parsed chain is shared by every request that plans with it. */
export function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}
