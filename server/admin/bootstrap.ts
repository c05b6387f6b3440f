import { randomBytes } from 'node:crypto';
import type { Services } from '../services.ts';
import { parseChain, formatChain } from '../flow/chain.ts';
import { ADMIN_CLIENT_ID } from '../manage/index.ts';

/**
 * The console is a confidential client of this broker. It is created on the first start
 * (with a generated secret that only the broker itself reads) and left alone afterwards,
 * so a chain an admin strengthened through the console survives restarts.
 */
export async function ensureAdminClient(s: Services): Promise<void> {
  const callback = `${s.config.issuer}/admin/callback`;
  const existing = await s.clients.get(ADMIN_CLIENT_ID);
  if (existing) {
    // A new ISSUER moves the console's callback: register it, keep the rest as the admins left it.
    if (!existing.redirectUris.includes(callback)) {
      await s.clients.update(ADMIN_CLIENT_ID, { redirectUris: [...existing.redirectUris, callback] });
    }
    return;
  }
  const chain = parseChain(s.config.admin.chain, s.runner.catalog);
  if (chain.steps.length < 2) throw new Error(`config admin.chain: the console needs at least two steps, got "${s.config.admin.chain}"`);
  await s.clients.create({
    clientId: ADMIN_CLIENT_ID,
    secret: randomBytes(32).toString('base64url'),
    redirectUris: [callback],
    grantTypes: ['authorization_code'],
    chain: formatChain(chain),
    // first party: the console is the operator's own, it asks no consent
    settings: { name: 'stepgate admin console', postLogoutRedirectUris: [`${s.config.issuer}/admin/signed-out`], firstParty: true },
  });
}
