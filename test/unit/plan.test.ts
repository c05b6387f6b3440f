import assert from 'node:assert/strict';
import { parseChain, formatChain, describeChain, ChainError } from '../../server/flow/chain.ts';
import { plan, inNetworks, ACR_SINGLE, ACR_MULTI, type PlanContext, type Satisfaction } from '../../server/flow/plan.ts';
import { requestFacts } from '../../server/flow/request.ts';
import { parseSessionSpec, describeSimulation, SimulationError } from '../../server/flow/simulate.ts';

/**
 * The chain model and the one plan function, table-driven: level × condition × session ×
 * max_age × device × upstream. Each row names a chain, a context and what must come out.
 */
const catalog = {
  has: (id: string) => ['password', 'totp', 'passkey', 'yahoo', 'corp', 'recovery'].includes(id),
  requiresUser: (id: string) => id === 'totp' || id === 'recovery',
};
const AMR: Record<string, string[]> = { password: ['pwd'], totp: ['otp'], passkey: ['hwk'], yahoo: ['fed'], corp: ['fed'], recovery: ['otp'] };

const NOW = 1_800_000_000;
const L1 = 'urn:stepgate:loa:1';
const L2 = 'urn:stepgate:loa:2';
const stepUp = JSON.stringify({
  steps: [{ options: ['password'] }, { options: ['totp'], level: 2, maxAge: 3600 }],
  levels: { [L1]: 1, [L2]: 2 }, defaultLevel: 1,
});
const office = JSON.stringify({ steps: [{ options: ['password'] }, { options: ['totp'], unless: { network: ['10.0.0.0/8', '2001:db8::/32'] } }] });
const admins = JSON.stringify({ steps: [{ options: ['password'] }, { options: ['totp'], when: { role: ['admin'] } }] });
const remember = JSON.stringify({ steps: [{ options: ['password'] }, { options: ['totp'], remember: 30 * 86400 }] });
const newDevice = JSON.stringify({ steps: [{ options: ['password'] }, { options: ['totp'], when: { device: 'new' } }] });
const fedTotp = 'corp,totp';

const user = (roles: string[] = []) => ({ id: 'u1', roles });
const ago = (authenticator: string, seconds: number, extra: Partial<Satisfaction> = {}): Satisfaction => ({ authenticator, at: NOW - seconds, ...extra });
const session = (...steps: Satisfaction[]) => ({ accountId: 'u1', steps });

type Row = {
  name: string;
  chain: string;
  ctx: Partial<PlanContext>;
  /** one letter per step: a(sk) s(atisfied) k (skip) u(navailable) */
  outcomes: string;
  complete?: boolean;
  acr?: string;
  amr?: string[];
  unmet?: boolean;
  check?: (p: ReturnType<typeof plan>) => void;
};

const LETTER = { ask: 'a', satisfied: 's', skip: 'k', unavailable: 'u' } as const;

const rows: Row[] = [
  // plain chains
  { name: 'nothing known: the first step is asked', chain: 'password,totp', ctx: {}, outcomes: 'aa', complete: false },
  { name: 'both steps done in this login: complete, mfa', chain: 'password,totp', ctx: { user: user(), done: { 0: ago('password', 5), 1: ago('totp', 1) } }, outcomes: 'ss', complete: true, acr: ACR_MULTI, amr: ['pwd', 'otp', 'mfa'] },
  { name: 'password only: single-step acr, no mfa', chain: 'password', ctx: { user: user(), done: { 0: ago('password', 1) } }, outcomes: 's', acr: ACR_SINGLE, amr: ['pwd'] },
  { name: 'password then password-like alternative is one category', chain: 'password,totp|password', ctx: { user: user(), done: { 0: ago('password', 2), 1: ago('password', 1) } }, outcomes: 'ss', acr: ACR_SINGLE, amr: ['pwd'] },
  { name: 'a TOTP the user has not enrolled is unavailable', chain: 'password,totp', ctx: { user: user(), done: { 0: ago('password', 1) }, authenticators: { password: { amr: ['pwd'] }, totp: { amr: ['otp'], configured: false } } }, outcomes: 'su', complete: false },
  { name: 'unavailable offers enrolment when allowed', chain: 'password,totp', ctx: { user: user(), done: { 0: ago('password', 1) }, authenticators: { password: { amr: ['pwd'] }, totp: { amr: ['otp'], configured: false, enrollable: true } } }, outcomes: 'su', check: (p) => assert.deepEqual(p.steps[1]!.enrol, ['totp']) },
  { name: 'only the usable alternatives are offered', chain: 'password,totp|passkey', ctx: { user: user(), done: { 0: ago('password', 1) }, authenticators: { password: { amr: ['pwd'] }, totp: { amr: ['otp'], configured: false }, passkey: { amr: ['hwk'] } } }, outcomes: 'sa', check: (p) => assert.deepEqual(p.steps[1]!.usable, ['passkey']) },

  // single sign-on and freshness
  { name: 'SSO reuses both fresh steps', chain: 'password,totp', ctx: { session: session(ago('password', 60), ago('totp', 60)) }, outcomes: 'ss', complete: true, acr: ACR_MULTI, check: (p) => assert.equal(p.accountId, 'u1') },
  { name: 'SSO: a step older than ssoFreshness is asked again', chain: 'password,totp', ctx: { session: session(ago('password', 60), ago('totp', 9 * 3600)) }, outcomes: 'sa' },
  { name: 'SSO: max_age applies to every reused step (the old TOTP is asked)', chain: 'password,totp', ctx: { session: session(ago('password', 5), ago('totp', 8 * 3600 - 60)), request: { maxAge: 10 } }, outcomes: 'sa' },
  { name: 'SSO: max_age stale password, fresh TOTP: password asked, subject not fixed', chain: 'password,totp', ctx: { session: session(ago('password', 100), ago('totp', 5)), request: { maxAge: 10 } }, outcomes: 'as', check: (p) => assert.equal(p.accountId, undefined) },
  { name: 'SSO: prompt=login reuses nothing', chain: 'password,totp', ctx: { session: session(ago('password', 5), ago('totp', 5)), request: { prompt: ['login'] } }, outcomes: 'aa' },
  { name: 'SSO: id_token_hint for another subject runs the chain from the start', chain: 'password,totp', ctx: { session: session(ago('password', 5), ago('totp', 5)), request: { hintSubject: 'u2' } }, outcomes: 'aa' },
  { name: 'SSO: id_token_hint for the session subject reuses', chain: 'password,totp', ctx: { session: session(ago('password', 5), ago('totp', 5)), request: { hintSubject: 'u1' } }, outcomes: 'ss' },
  { name: 'SSO: per-step maxAge shorter than ssoFreshness', chain: stepUp, ctx: { session: session(ago('password', 60), ago('totp', 7200)), request: { acrValues: [L2] } }, outcomes: 'sa' },
  { name: 'SSO: another user identified in this login cannot reuse the session', chain: 'password,totp', ctx: { user: { id: 'u2', roles: [] }, done: { 0: ago('password', 1) }, session: session(ago('password', 5), ago('totp', 5)) }, outcomes: 'sa' },
  { name: 'auth_time is the oldest step used', chain: 'password,totp', ctx: { session: session(ago('password', 300), ago('totp', 30)) }, outcomes: 'ss', check: (p) => assert.equal(p.authTime, NOW - 300) },

  // levels (step-up)
  { name: 'level 2 step not asked at the default level', chain: stepUp, ctx: { user: user(), done: { 0: ago('password', 1) } }, outcomes: 'sk', complete: true, acr: L1, amr: ['pwd'] },
  { name: 'acr_values loa:2 raises the target: TOTP asked', chain: stepUp, ctx: { user: user(), done: { 0: ago('password', 1) }, request: { acrValues: [L2] } }, outcomes: 'sa' },
  { name: 'step-up from a password session asks only TOTP', chain: stepUp, ctx: { session: session(ago('password', 60)), request: { acrValues: [L2] } }, outcomes: 'sa' },
  { name: 'step-up done: acr loa:2, mfa', chain: stepUp, ctx: { user: user(), session: session(ago('password', 60)), done: { 1: ago('totp', 1) }, request: { acrValues: [L2] } }, outcomes: 'ss', acr: L2, amr: ['pwd', 'otp', 'mfa'] },
  { name: 'unknown acr_values are ignored (voluntary)', chain: stepUp, ctx: { user: user(), done: { 0: ago('password', 1) }, request: { acrValues: ['urn:other', L1] } }, outcomes: 'sk', acr: L1 },
  { name: 'first known acr_values value decides', chain: stepUp, ctx: { user: user(), done: { 0: ago('password', 1) }, request: { acrValues: ['urn:other', L2, L1] } }, outcomes: 'sa' },
  { name: 'essential acr raises the target', chain: stepUp, ctx: { user: user(), done: { 0: ago('password', 1) }, request: { essentialAcr: [L2] } }, outcomes: 'sa' },
  { name: 'essential acr the chain does not know is unmet', chain: stepUp, ctx: { request: { essentialAcr: ['urn:x:loa:9'] } }, outcomes: 'ak', unmet: true },
  { name: 'essential multi-step on a level-less chain that yields one category is unmet', chain: 'password', ctx: { user: user(), done: { 0: ago('password', 1) }, request: { essentialAcr: [ACR_MULTI] } }, outcomes: 's', unmet: true },
  { name: 'essential multi-step met by password+TOTP', chain: 'password,totp', ctx: { user: user(), done: { 0: ago('password', 2), 1: ago('totp', 1) }, request: { essentialAcr: [ACR_MULTI] } }, outcomes: 'ss', acr: ACR_MULTI, check: (p) => assert.equal(p.unmet, undefined) },
  { name: 'essential loa:1 reached at a higher default level answers loa:1', chain: JSON.stringify({ steps: [{ options: ['password'] }, { options: ['totp'], level: 2 }], levels: { [L1]: 1, [L2]: 2 }, defaultLevel: 2 }), ctx: { user: user(), done: { 0: ago('password', 2), 1: ago('totp', 1) }, request: { essentialAcr: [L1] } }, outcomes: 'ss', acr: L1 },

  // conditions
  { name: 'office network skips TOTP (IPv4)', chain: office, ctx: { user: user(), address: '10.1.2.3', done: { 0: ago('password', 1) } }, outcomes: 'sk', complete: true, amr: ['pwd'], acr: ACR_SINGLE },
  { name: 'office network skips TOTP (IPv4-mapped IPv6)', chain: office, ctx: { user: user(), address: '::ffff:10.1.2.3', done: { 0: ago('password', 1) } }, outcomes: 'sk' },
  { name: 'office network skips TOTP (IPv6)', chain: office, ctx: { user: user(), address: '2001:db8::7', done: { 0: ago('password', 1) } }, outcomes: 'sk' },
  { name: 'outside the office TOTP is asked', chain: office, ctx: { user: user(), address: '192.0.2.10', done: { 0: ago('password', 1) } }, outcomes: 'sa' },
  { name: 'no address known: the network condition does not hold', chain: office, ctx: { user: user(), done: { 0: ago('password', 1) } }, outcomes: 'sa' },
  { name: 'role condition: admin is asked TOTP', chain: admins, ctx: { user: user(['admin']), done: { 0: ago('password', 1) } }, outcomes: 'sa' },
  { name: 'role condition: others skip it', chain: admins, ctx: { user: user(['staff']), done: { 0: ago('password', 1) } }, outcomes: 'sk' },
  { name: 'role condition before identification: pending ask', chain: admins, ctx: {}, outcomes: 'aa', check: (p) => assert.equal(p.steps[1]!.pending, true) },
  { name: 'device condition: a new device is asked', chain: newDevice, ctx: { user: user(), done: { 0: ago('password', 1) } }, outcomes: 'sa' },
  { name: 'device condition: a remembered device skips', chain: newDevice, ctx: { user: user(), rememberedSince: NOW - 86400, done: { 0: ago('password', 1) } }, outcomes: 'sk' },

  // remembered devices
  { name: 'remembered device skips a remember step', chain: remember, ctx: { user: user(), rememberedSince: NOW - 86400, done: { 0: ago('password', 1) } }, outcomes: 'sk', amr: ['pwd'], acr: ACR_SINGLE },
  { name: 'remembered longer ago than the step allows: asked', chain: remember, ctx: { user: user(), rememberedSince: NOW - 31 * 86400, done: { 0: ago('password', 1) } }, outcomes: 'sa' },
  { name: 'a remembered device does not skip a step without remember', chain: 'password,totp', ctx: { user: user(), rememberedSince: NOW - 60, done: { 0: ago('password', 1) } }, outcomes: 'sa' },

  // upstream amr
  { name: 'untrusted upstream: TOTP still asked, no mfa', chain: fedTotp, ctx: { user: user(), done: { 0: ago('corp', 1) } }, outcomes: 'sa' },
  { name: 'trusted upstream otp satisfies the TOTP step', chain: fedTotp, ctx: { user: user(), done: { 0: ago('corp', 1, { upstreamAmr: ['pwd', 'otp'] }) } }, outcomes: 'ss', complete: true, amr: ['fed', 'pwd', 'otp', 'mfa'], acr: ACR_MULTI, check: (p) => assert.equal(p.steps[1]!.upstream, true) },
  { name: 'trusted upstream mfa satisfies the TOTP step', chain: fedTotp, ctx: { user: user(), done: { 0: ago('corp', 1, { upstreamAmr: ['mfa'] }) } }, outcomes: 'ss', amr: ['fed', 'mfa'] },
  { name: 'trusted upstream pwd only: TOTP asked', chain: fedTotp, ctx: { user: user(), done: { 0: ago('corp', 1, { upstreamAmr: ['pwd'] }) } }, outcomes: 'sa' },
  { name: 'trusted upstream via SSO still counts (and ages)', chain: fedTotp, ctx: { session: session(ago('corp', 60, { upstreamAmr: ['otp'] })) }, outcomes: 'ss' },
  { name: 'trusted upstream too old for max_age: both asked', chain: fedTotp, ctx: { session: session(ago('corp', 600, { upstreamAmr: ['otp'] })), request: { maxAge: 60 } }, outcomes: 'aa' },
  { name: 'password + untrusted federated step is not mfa', chain: 'password,yahoo', ctx: { user: user(), done: { 0: ago('password', 2), 1: ago('yahoo', 1) } }, outcomes: 'ss', amr: ['pwd', 'fed'], acr: ACR_SINGLE },
];

describe('plan(chain, context): one decision for every caller', () => {
  for (const row of rows) {
    it(row.name, () => {
      const authenticators = row.ctx.authenticators ?? Object.fromEntries(Object.entries(AMR).map(([k, amr]) => [k, { amr }]));
      const p = plan(parseChain(row.chain, catalog), { now: NOW, ssoFreshness: 8 * 3600, ...row.ctx, authenticators });
      assert.equal(p.steps.map((s) => LETTER[s.outcome]).join(''), row.outcomes, p.steps.map((s) => s.reason).join(' | '));
      if (row.complete !== undefined) assert.equal(p.complete, row.complete);
      if (row.acr) assert.equal(p.acr, row.acr);
      if (row.amr) assert.deepEqual(p.amr, row.amr);
      if (row.unmet !== undefined) assert.equal(Boolean(p.unmet), row.unmet, p.unmet);
      row.check?.(p);
    });
  }
});

describe('chains: text and JSON forms', () => {
  it('the text form parses and formats back unchanged', () => {
    for (const text of ['password', 'password,totp', 'yahoo|password,totp|passkey']) assert.equal(formatChain(parseChain(text, catalog)), text);
  });
  it('a JSON chain that says only what text can is stored as text', () => {
    assert.equal(formatChain(parseChain('{"steps":[{"options":["password"]},{"options":["totp"]}]}', catalog)), 'password,totp');
  });
  it('a structured chain round-trips through its stored JSON', () => {
    const chain = parseChain(stepUp, catalog);
    assert.deepEqual(parseChain(formatChain(chain), catalog), chain);
  });
  it('accepts an already-parsed object (the admin API sends either form)', () => {
    assert.equal(parseChain({ steps: [{ options: ['password'] }] }, catalog).steps.length, 1);
  });
  const refusals: [string, unknown, RegExp][] = [
    ['unknown key', { steps: [{ options: ['password'], colour: 'red' }] }, /^steps\[0\]: unknown key "colour"/],
    ['bad CIDR', { steps: [{ options: ['password'] }, { options: ['totp'], unless: { network: ['10.0.0.0/33'] } }] }, /^steps\[1\]\.unless\.network\[0\]: is not an IPv4 or IPv6 network/],
    ['level without a name', { steps: [{ options: ['password'] }, { options: ['totp'], level: 2 }] }, /^steps\[1\]\.level: level 2 has no name/],
    ['level missing from levels', { steps: [{ options: ['password'] }, { options: ['totp'], level: 3 }], levels: { [L1]: 1, [L2]: 2 } }, /^steps\[1\]\.level: level 3 has no name/],
    ['remember on a first step', { steps: [{ options: ['password'], remember: 60 }] }, /^steps\[0\]\.remember: the first step/],
    ['negative seconds', { steps: [{ options: ['password'] }, { options: ['totp'], maxAge: -1 }] }, /^steps\[1\]\.maxAge: must not be negative/],
    ['a condition on the first step', { steps: [{ options: ['password'], when: { role: ['admin'] } }] }, /^steps\[0\]\.when: the first step/],
    ['unknown authenticator', { steps: [{ options: ['nope'] }] }, /^steps\[0\]\.options: unknown authenticator "nope"/],
    ['TOTP first', 'totp,password', /cannot be in the first step/],
    ['empty', '  ', /chain is empty/],
    ['bad JSON', '{"steps":', /chain is not valid JSON/],
    ['unknown device', { steps: [{ options: ['password'] }, { options: ['totp'], when: { device: 'old' } }] }, /^steps\[1\]\.when\.device/],
  ];
  for (const [what, input, message] of refusals) {
    it(`refuses ${what} with one error naming the path`, () => {
      assert.throws(() => parseChain(input, catalog), (err: Error) => err instanceof ChainError && message.test(err.message));
    });
  }
  it('describes a chain in plain words', () => {
    const chain = parseChain(JSON.stringify({
      steps: [{ options: ['password'] }, { options: ['totp'], level: 2, maxAge: 3600, remember: 2592000, unless: { network: ['10.0.0.0/8'] } }],
      levels: { [L1]: 1, [L2]: 2 },
    }), catalog);
    assert.equal(describeChain(chain, (id) => ({ password: 'Password', totp: 'Authenticator app' })[id] ?? id),
      `Step 1: Password. Step 2: Authenticator app — only for level 2 (acr ${L2}), not from 10.0.0.0/8, asked again after 1 hour, can be remembered for 30 days.`);
  });
  it('matches networks for IPv4, IPv6 and IPv4-mapped addresses', () => {
    assert.equal(inNetworks('10.9.8.7', ['10.0.0.0/8']), true);
    assert.equal(inNetworks('11.0.0.1', ['10.0.0.0/8']), false);
    assert.equal(inNetworks('::ffff:10.0.0.1', ['10.0.0.0/8']), true);
    assert.equal(inNetworks('2001:db8:1::1', ['2001:db8::/32']), true);
    assert.equal(inNetworks('not-an-ip', ['10.0.0.0/8']), false);
  });
  it('reads acr_values, an essential acr claim, max_age, prompt and the id_token_hint subject from a request', () => {
    const hint = `e30.${Buffer.from(JSON.stringify({ sub: 'bob' })).toString('base64url')}.sig`;
    assert.deepEqual(requestFacts({ acr_values: `${L2} ${L1}`, max_age: '10', prompt: 'login', id_token_hint: hint, claims: JSON.stringify({ id_token: { acr: { essential: true, values: [L2] } } }) }),
      { acrValues: [L2, L1], prompt: ['login'], maxAge: 10, essentialAcr: [L2], hintSubject: 'bob' });
    assert.deepEqual(requestFacts({ claims: JSON.stringify({ id_token: { acr: { values: [L2] } } }) }), {}, 'a voluntary acr claim is no demand');
  });
});

describe('simulator helpers', () => {
  it('reads a session as authenticators with ages', () => {
    assert.deepEqual(parseSessionSpec('password@-10m, totp@-3h,corp@-2d,x@-5s', NOW), [
      { authenticator: 'password', at: NOW - 600 }, { authenticator: 'totp', at: NOW - 10800 },
      { authenticator: 'corp', at: NOW - 172800 }, { authenticator: 'x', at: NOW - 5 },
    ]);
    assert.deepEqual(parseSessionSpec('', NOW), []);
    assert.throws(() => parseSessionSpec('password@10m', NOW), SimulationError);
    assert.throws(() => parseSessionSpec('password@-10y', NOW), /expected <authenticator>@-<age>/);
  });
  it('describes a simulation step by step, then acr and amr', () => {
    const text = describeSimulation({
      steps: [
        { step: 1, options: ['password'], outcome: 'ask', usable: ['password'], reason: 'to ask: password' },
        { step: 2, options: ['totp'], outcome: 'skip', reason: 'condition met: not with address in 10.0.0.0/8' },
      ],
      complete: true, acr: ACR_SINGLE, amr: ['pwd'],
    });
    assert.equal(text, `Step 1 (password): ask password\nStep 2 (totp): skip — condition met: not with address in 10.0.0.0/8\nacr: ${ACR_SINGLE}\namr: pwd`);
  });
});
