import argon2 from 'argon2';
import { loadConfig } from '../../config/index.ts';
import { serve } from '../../server/index.ts';
import { statementCount } from '../../server/storage/database.ts';
import { answerParent } from './ipc.ts';
import { routeCpu } from './route-cpu.ts';
import { minting } from './mint.ts';
import { BENCH_CLIENT, FIRST_PARTY_CLIENT } from './client.ts';

/**
 * stepgate as `stepgate serve` runs it (production argon2 cost, info-level logs), on the
 * DATABASE_URL the parent gives, with the benchmark's client and users seeded.
 */
const running = await serve(loadConfig(process.env), { log: () => {} });
const s = running.stepgate;
await s.clients.create({
  clientId: BENCH_CLIENT.clientId, secret: BENCH_CLIENT.secret, redirectUris: [BENCH_CLIENT.redirectUri], chain: 'password,totp',
  grantTypes: ['authorization_code', 'refresh_token', 'client_credentials'], settings: {},
});
await s.clients.create({
  clientId: FIRST_PARTY_CLIENT.clientId, secret: FIRST_PARTY_CLIENT.secret, redirectUris: [FIRST_PARTY_CLIENT.redirectUri], chain: 'password,totp',
  grantTypes: ['authorization_code', 'refresh_token'], settings: { firstParty: true },
});
const account = await s.users.create({ username: 'bench-account', passwordHash: null });
const mint = minting(s.app, BENCH_CLIENT.clientId, BENCH_CLIENT.redirectUri);

answerParent((running.server.address() as { port: number }).port, {
  ...routeCpu(running.server, statementCount),
  /** V8's heap and the process's other memory now (bench/memory.ts) */
  memory: async () => process.memoryUsage(),
  /** SQL statements run so far (the parent takes differences around a round) */
  statements: async () => statementCount(),
  codes: (args) => mint.codes({ ...args, accountId: account.id }),
  refreshTokens: (args) => mint.refreshTokens({ ...args, accountId: account.id }),
  /**
   * `n` users for a login scenario (names start with `prefix`): one password (so one hash,
   * at the production cost, or with `hash: 'minimal'` at argon2id's least: 64 KiB, one
   * pass) and one TOTP secret.
   */
  async users({ n, password, totpSecret, prefix = 'bench-user', hash: cost }) {
    const hash = cost === 'minimal'
      ? await argon2.hash(String(password), { type: argon2.argon2id, memoryCost: 64, timeCost: 1, parallelism: 1 })
      : await s.passwords.hash(String(password));
    const usernames: string[] = [];
    for (let i = 0; i < Number(n); i++) {
      const user = await s.users.create({ username: `${String(prefix)}-${i}`, passwordHash: hash });
      await s.credentials.setTotp(user.id, String(totpSecret));
      usernames.push(user.username);
    }
    return usernames;
  },
});
