import { parseArgs } from 'node:util';
import { generateSecret, generateURI, generate } from 'otplib';
import qrcode from 'qrcode-terminal';
import { loadConfig, ConfigError } from '../config/index.ts';
import { openServices, type Services } from './services.ts';
import { resealAll } from './security/reseal.ts';
import { parseChain, formatChain, describeChain, ChainError } from './flow/chain.ts';
import { federationCommand, type IdpFlags } from './cli-federation.ts';

const USAGE = `usage: stepgate <command> [options]   (add --json to any command for machine-readable output)

  serve                                             run the broker (what npm start runs)
  user add <username> --password-stdin [--email E] [--role admin]
  user list
  user unlock <username>                            clear brute-force lockouts of an account
  totp enroll <username>                            new TOTP secret: prints the otpauth URI and a QR code
  totp code <username>                              development only: the current code (for the demo)
  client add <client_id> --redirect-uri <uri> [--redirect-uri <uri>...] (--secret-stdin | --public)
             --chain "password,totp" [--grants authorization_code,refresh_token]
  client chain <client_id> "<chain>"                replace a chain; applies to the next login
  client list
  client remove <client_id>
  secrets reseal                                    after putting a new key first in STEPGATE_SECRET_KEYS:
                                                    re-encrypt everything under it (then drop the old key)
  idp add <name> (--preset yahoo|google|microsoft | --issuer <url>) --client-id <id> --client-secret-stdin
          [--jit] [--scopes "openid profile email"] [--display-name <text>] [--claim username=<claim>] [--claim email=<claim>]
  idp list
  idp remove <name>                                 refused while a client's chain names it
  user link <username> <idp> <subject>              link an external identity (the IdP's "sub") to a user
  user unlink <username> <idp> [<subject>]

chains: steps separated by ",", alternatives inside a step by "|", e.g. "password,totp"`;

/** A user mistake: one line on stderr, exit status 2. */
class UsageError extends Error {}

const GRANTS = new Set(['authorization_code', 'refresh_token', 'client_credentials']);

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) throw new UsageError('expected the secret on standard input (pipe it in)');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const value = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
  if (value === '') throw new UsageError('standard input was empty');
  return value;
}

function checkUri(uri: string): string {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw new UsageError(`redirect URI "${uri}" is not an absolute URL`);
  }
  if (!['http:', 'https:'].includes(url.protocol) && !/^[a-z][a-z0-9+.-]*\.[a-z0-9+.-]+:$/.test(url.protocol)) {
    throw new UsageError(`redirect URI "${uri}" must be http(s) or a private-use scheme like com.example.app:`);
  }
  if (url.hash) throw new UsageError(`redirect URI "${uri}" must not have a fragment`);
  return uri;
}

type Out = { json: boolean; print(human: string, data: unknown): void };

async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      json: { type: 'boolean', default: false },
      'password-stdin': { type: 'boolean', default: false },
      'secret-stdin': { type: 'boolean', default: false },
      public: { type: 'boolean', default: false },
      email: { type: 'string' },
      role: { type: 'string', multiple: true },
      'redirect-uri': { type: 'string', multiple: true },
      chain: { type: 'string' },
      grants: { type: 'string' },
      preset: { type: 'string' },
      issuer: { type: 'string' },
      'client-id': { type: 'string' },
      'client-secret-stdin': { type: 'boolean', default: false },
      jit: { type: 'boolean', default: false },
      scopes: { type: 'string' },
      'display-name': { type: 'string' },
      claim: { type: 'string', multiple: true },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const out: Out = {
    json: values.json,
    print(human, data) {
      console.log(values.json ? JSON.stringify(data) : human);
    },
  };
  const [group, action, ...rest] = positionals;
  if (values.help || !group) {
    console.log(USAGE);
    return values.help ? 0 : 2;
  }
  const config = loadConfig();
  if (group === 'serve') {
    // Loaded only to serve: the other commands need no HTTP stack.
    const { serve } = await import('./index.ts');
    const running = await serve(config, { handleSignals: true });
    console.log(`stepgate listening on ${config.issuer} (port ${running.server.address() && (running.server.address() as { port: number }).port})`);
    return -1;
  }
  const services = await openServices(config);
  try {
    return await command(services, out, group, action, rest, values);
  } finally {
    await services.db.close();
  }
}

async function command(
  s: Services, out: Out, group: string, action: string | undefined, rest: string[],
  values: { email?: string; role?: string[]; 'redirect-uri'?: string[]; chain?: string; grants?: string; public: boolean; 'password-stdin': boolean; 'secret-stdin': boolean } & IdpFlags,
): Promise<number> {
  if (group === 'idp' || (group === 'user' && (action === 'link' || action === 'unlink'))) return federationCommand(s, out, `${group} ${action ?? ''}`.trim(), rest, values, readStdin, UsageError);
  const key = `${group} ${action ?? ''}`.trim();
  switch (key) {
    case 'user add': {
      const [username] = rest;
      if (!username || username.trim() === '') throw new UsageError('user add needs a username');
      if (!values['password-stdin']) throw new UsageError('user add needs --password-stdin (never pass a password as an argument)');
      const password = await readStdin();
      if (password.length < 8) throw new UsageError('the password must be at least 8 characters');
      if (values.email !== undefined && !/^[^\s@]+@[^\s@]+$/.test(values.email)) throw new UsageError(`"${values.email}" is not an email address`);
      if (await s.users.byUsername(username)) throw new UsageError(`user "${username}" already exists`);
      const user = await s.users.create({ username, passwordHash: await s.passwords.hash(password), email: values.email ?? null, roles: values.role ?? [] });
      out.print(`user ${user.username} created (id ${user.id})`, { id: user.id, username: user.username, email: user.email, roles: user.roles });
      return 0;
    }
    case 'user list': {
      const users = await s.users.list();
      out.print(users.map((u) => `${u.username}\t${u.email ?? '-'}\t${u.hasTotp ? 'totp' : 'no-totp'}\t${u.roles.join(',') || '-'}${u.disabled ? '\tdisabled' : ''}`).join('\n') || '(no users)',
        users.map((u) => ({ id: u.id, username: u.username, email: u.email, totp: u.hasTotp, roles: u.roles, disabled: u.disabled })));
      return 0;
    }
    case 'user unlock': {
      const user = await needUser(s, rest[0]);
      await s.lockout.unlock(user.username);
      await s.lockout.unlock(user.id);
      out.print(`user ${user.username} unlocked`, { username: user.username, unlocked: true });
      return 0;
    }
    case 'totp enroll': {
      const user = await needUser(s, rest[0]);
      const secret = generateSecret();
      await s.users.setTotpSecret(user.id, secret);
      const uri = generateURI({ issuer: 'stepgate', label: user.username, secret });
      if (out.json) out.print('', { secret, uri });
      else {
        console.log(`TOTP enrolled for ${user.username}. Scan this with an authenticator app:\n`);
        qrcode.generate(uri, { small: true }, (qr: string) => console.log(qr));
        console.log(`${uri}\nsecret: ${secret}`);
      }
      return 0;
    }
    case 'totp code': {
      if (s.config.production) throw new UsageError('totp code is a development aid and is disabled in production');
      const user = await needUser(s, rest[0]);
      const enrolled = await s.users.totpSecret(user.id);
      if (!enrolled) throw new UsageError(`user "${user.username}" has no TOTP enrolled`);
      const code = await generate({ secret: enrolled.secret });
      out.print(code, { code });
      return 0;
    }
    case 'client add': {
      const [clientId] = rest;
      if (!clientId || !/^[A-Za-z0-9._~-]{1,255}$/.test(clientId)) throw new UsageError('client add needs a client id of letters, digits, ".", "_", "~" or "-"');
      if (values.public === values['secret-stdin']) throw new UsageError('choose one of --secret-stdin (confidential client) or --public');
      const redirectUris = (values['redirect-uri'] ?? []).map(checkUri);
      const grantTypes = (values.grants ?? 'authorization_code,refresh_token').split(',').map((g) => g.trim()).filter(Boolean);
      for (const g of grantTypes) if (!GRANTS.has(g)) throw new UsageError(`unknown grant type "${g}" (known: ${[...GRANTS].join(', ')})`);
      if (grantTypes.includes('authorization_code') && redirectUris.length === 0) throw new UsageError('client add needs --redirect-uri for the authorization_code grant');
      if (values.public && grantTypes.includes('client_credentials')) throw new UsageError('a public client cannot use client_credentials');
      if (values.chain === undefined) throw new UsageError('client add needs --chain, e.g. --chain "password,totp"');
      const chain = formatChain(parseChain(values.chain, s.runner.catalog));
      const secret = values['secret-stdin'] ? await readStdin() : null;
      if (secret !== null && secret.length < 16) throw new UsageError('the client secret must be at least 16 characters');
      const created = await s.clients.create({ clientId, secret, redirectUris, grantTypes, chain, settings: {} });
      if (!created) throw new UsageError(`client "${clientId}" already exists`);
      out.print(`client ${clientId} created; chain: ${describeChain(parseChain(chain, s.runner.catalog), (id) => s.runner.label(id))}`,
        { client_id: clientId, public: secret === null, redirect_uris: redirectUris, grant_types: grantTypes, chain });
      return 0;
    }
    case 'client chain': {
      const [clientId, chainText] = rest;
      if (!clientId || chainText === undefined) throw new UsageError('usage: stepgate client chain <client_id> "<chain>"');
      const chain = formatChain(parseChain(chainText, s.runner.catalog));
      if (!(await s.clients.setChain(clientId, chain))) throw new UsageError(`no client "${clientId}"`);
      out.print(`client ${clientId}: ${describeChain(parseChain(chain, s.runner.catalog), (id) => s.runner.label(id))}`, { client_id: clientId, chain });
      return 0;
    }
    case 'client list': {
      const clients = await s.clients.list();
      out.print(clients.map((c) => `${c.clientId}\t${c.secret === null ? 'public' : 'confidential'}\t${c.chain}\t${c.redirectUris.join(' ')}`).join('\n') || '(no clients)',
        clients.map((c) => ({ client_id: c.clientId, public: c.secret === null, chain: c.chain, redirect_uris: c.redirectUris, grant_types: c.grantTypes })));
      return 0;
    }
    case 'client remove': {
      const [clientId] = rest;
      if (!clientId) throw new UsageError('usage: stepgate client remove <client_id>');
      if (!(await s.clients.remove(clientId))) throw new UsageError(`no client "${clientId}"`);
      out.print(`client ${clientId} removed`, { client_id: clientId, removed: true });
      return 0;
    }
    case 'secrets reseal': {
      const counts = await resealAll(s.db, s.keyring);
      out.print(Object.entries(counts).map(([table, n]) => `${table}: ${n} re-encrypted`).join('\n'), counts);
      return 0;
    }
    default:
      throw new UsageError(`unknown command "${key}"; run stepgate --help`);
  }
}

async function needUser(s: Services, username: string | undefined) {
  if (!username) throw new UsageError('a username is required');
  const user = await s.users.byUsername(username);
  if (!user) throw new UsageError(`no user "${username}"`);
  return user;
}

try {
  const code = await run(process.argv.slice(2));
  if (code >= 0) process.exitCode = code;
} catch (err) {
  if (err instanceof UsageError || err instanceof ChainError || err instanceof ConfigError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
    console.error(`stepgate: ${(err as Error).message}`);
    process.exitCode = 2;
  } else {
    console.error(`stepgate: ${(err as Error).message}`);
    process.exitCode = 1;
  }
}
