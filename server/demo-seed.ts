import { randomBytes } from 'node:crypto';
import { generateSecret, generateURI } from 'otplib';
import type { Services } from './services.ts';
import { ADMIN_CLIENT_ID } from './manage/index.ts';

/**
 * On a new database outside production: a demo client (chain password,totp) and a demo
 * user (an admin) with a TOTP secret, printed once so the quick start works without any setup.
 */
export async function seedDemo(s: Services): Promise<string | undefined> {
  // The console's own client is created at every start, so it does not make a database "used".
  const clients = (await s.clients.list()).filter((c) => c.clientId !== ADMIN_CLIENT_ID);
  if (!s.config.demo || (await s.users.list()).length > 0 || clients.length > 0) return undefined;
  const password = randomBytes(9).toString('base64url');
  const clientSecret = randomBytes(18).toString('base64url');
  const user = await s.users.create({ username: 'demo', passwordHash: await s.passwords.hash(password), email: 'demo@example.org', roles: ['admin'] });
  const totp = generateSecret();
  await s.credentials.setTotp(user.id, totp);
  // Confirmed, so the quick start can try email codes and password resets (mails at /dev/mail).
  await s.users.setEmail(user.id, 'demo@example.org', true);
  await s.clients.create({
    clientId: 'demo-app', secret: clientSecret, redirectUris: [`${s.config.issuer}/demo/callback`],
    grantTypes: ['authorization_code', 'refresh_token'], chain: 'password,totp', settings: { name: 'Demo application' },
  });
  const authorize = `${s.config.issuer}/authorize?client_id=demo-app&response_type=code&scope=openid%20profile&redirect_uri=${encodeURIComponent(`${s.config.issuer}/demo/callback`)}`;
  return [
    '',
    '=== DEMO DATA (development only; created because the database was empty) ===',
    `  user      demo / ${password}`,
    `  TOTP      secret ${totp}`,
    `            ${generateURI({ issuer: 'stepgate', label: 'demo', secret: totp })}`,
    `  client    demo-app / ${clientSecret}   chain: password,totp`,
    `  sign in   ${authorize}`,
    `  admin     ${s.config.issuer}/admin   (demo is an admin)`,
    '  a TOTP code now: npx stepgate totp code demo',
    '===========================================================================',
    '',
  ].join('\n');
}
