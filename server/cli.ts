import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { generateSecret, generateURI, generate } from 'otplib';
import qrcode from 'qrcode-terminal';
import { loadConfig, ConfigError } from '../config/index.ts';
import { openServices, type Services } from './services.ts';
import { resealAll } from './security/reseal.ts';
import { parseChain, formatChain, describeChain, ChainError } from './flow/chain.ts';
import { federationCommand, type IdpFlags } from './cli-federation.ts';
import type { ClientSettings } from './storage/clients.ts';
import { SAML2_BEARER_GRANT } from './grants/saml2-bearer.ts';

const USAGE = `usage: stepgate <command> [options]   (add --json to any command for machine-readable output)

  serve                                             run the broker (what npm start runs)
  user add <username> --password-stdin [--email E] [--role admin]
  user list
  user unlock <username>                            clear brute-force lockouts of an account
  totp enroll <username>                            new TOTP secret: prints the otpauth URI and a QR code
  totp code <username>                              development only: the current code (for the demo)
  client add <client_id> --redirect-uri <uri> [--redirect-uri <uri>...] (--secret-stdin | --public)
             --chain "password,totp" [--grants authorization_code,refresh_token]
  client update <client_id> [--grants a,b] [--scopes "read update"] [--user-token-ttl N] [--app-token-ttl N]
             [--allow-non-expiring | --no-allow-non-expiring] [--app-token-format opaque|jwt] [--saml-idps a,b]
                                                    grant types, API scopes, trusted SAML IdPs, token lifetimes (seconds;
                                                    a negative lifetime, written --user-token-ttl=-1, never
                                                    expires and needs --allow-non-expiring)
  client chain <client_id> "<chain>"                replace a chain; applies to the next login
  client list
  client remove <client_id>
  secrets reseal                                    after putting a new key first in STEPGATE_SECRET_KEYS:
                                                    re-encrypt everything under it (then drop the old key)
  idp add <name> (--preset yahoo|google|microsoft | --issuer <url>) --client-id <id> --client-secret-stdin
          [--jit] [--scopes "openid profile email"] [--display-name <text>] [--claim username=<claim>] [--claim email=<claim>]
          [--allow-private-network]                 an on-premise provider on a loopback/private/link-local address
  idp list
  idp remove <name>                                 refused while a client's chain names it
  user link <username> <idp> <subject>              link an external identity (the IdP's "sub") to a user
  user unlink <username> <idp> [<subject>]
  saml-idp add <name> --issuer <entityID> --cert-file <pem>   trust an IdP's signed assertions (SAML2 bearer grant)
  saml-idp list
  saml-idp remove <name>

grant types: authorization_code, refresh_token, client_credentials, password, saml2-bearer

chains: steps separated by ",", alternatives inside a step by "|", e.g. "password,totp"`;

/** A user mistake: one line on stderr, exit status 2. */
class UsageError extends Error {}

const GRANTS = new Set(['authorization_code', 'refresh_token', 'client_credentials', 'password', SAML2_BEARER_GRANT]);

/** "a,b" → grant types; "saml2-bearer" is short for RFC 7522's URN. */
function parseGrants(text: string): string[] {
  const grants = text.split(',').map((g) => g.trim()).filter(Boolean).map((g) => (g === 'saml2-bearer' ? SAML2_BEARER_GRANT : g));
  if (grants.length === 0) throw new UsageError('--grants needs at least one grant type');
  for (const g of grants) if (!GRANTS.has(g)) throw new UsageError(`unknown grant type "${g}" (known: ${[...GRANTS].join(', ')})`);
  return [...new Set(grants)];
}

/** A token lifetime in seconds: a non-zero integer; negative means "never expires". */
function parseTtl(option: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^-?\d{1,10}$/.test(text) || Number(text) === 0) throw new UsageError(`--${option} must be a non-zero whole number of seconds (negative: never expires)`);
  return Number(text);
}

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
      'allow-private-network': { type: 'boolean', default: false },
      scopes: { type: 'string' },
      'display-name': { type: 'string' },
      claim: { type: 'string', multiple: true },
      'user-token-ttl': { type: 'string' },
      'app-token-ttl': { type: 'string' },
      'allow-non-expiring': { type: 'boolean' },
      'app-token-format': { type: 'string' },
      'no-allow-non-expiring': { type: 'boolean' },
      'cert-file': { type: 'string' },
      'saml-idps': { type: 'string' },
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
  values: {
    email?: string; role?: string[]; 'redirect-uri'?: string[]; chain?: string; grants?: string; public: boolean; 'password-stdin': boolean; 'secret-stdin': boolean;
    scopes?: string; 'user-token-ttl'?: string; 'app-token-ttl'?: string; 'app-token-format'?: string; 'allow-non-expiring'?: boolean; 'no-allow-non-expiring'?: boolean;
    issuer?: string; 'cert-file'?: string; 'saml-idps'?: string;
  } & IdpFlags,
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
      const grantTypes = parseGrants(values.grants ?? 'authorization_code,refresh_token');
      if (grantTypes.includes('authorization_code') && redirectUris.length === 0) throw new UsageError('client add needs --redirect-uri for the authorization_code grant');
      if (values.public && grantTypes.some((g) => g !== 'authorization_code' && g !== 'refresh_token')) throw new UsageError('a public client can only use authorization_code and refresh_token');
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
    case 'client update': {
      const [clientId] = rest;
      if (!clientId) throw new UsageError('usage: stepgate client update <client_id> [--grants ...] [--scopes ...] [--user-token-ttl N] [--app-token-ttl N] [--allow-non-expiring]');
      const client = await s.clients.get(clientId);
      if (!client) throw new UsageError(`no client "${clientId}"`);
      if (values['allow-non-expiring'] && values['no-allow-non-expiring']) throw new UsageError('choose one of --allow-non-expiring and --no-allow-non-expiring');
      const grantTypes = values.grants === undefined ? client.grantTypes : parseGrants(values.grants);
      if (grantTypes.includes('authorization_code') && client.redirectUris.length === 0) throw new UsageError('the authorization_code grant needs a redirect URI; this client has none');
      if (client.secret === null && grantTypes.some((g) => g !== 'authorization_code' && g !== 'refresh_token')) {
        throw new UsageError('a public client can only use authorization_code and refresh_token');
      }
      const settings: ClientSettings = { ...client.settings };
      if (values.scopes !== undefined) {
        const scopes = values.scopes.split(/[\s,]+/).filter(Boolean);
        for (const scope of scopes) if (!/^[\x21\x23-\x5B\x5D-\x7E]{1,128}$/.test(scope)) throw new UsageError(`"${scope}" is not a valid scope name`);
        settings.scopes = [...new Set(scopes)];
      }
      const userTtl = parseTtl('user-token-ttl', values['user-token-ttl']);
      const appTtl = parseTtl('app-token-ttl', values['app-token-ttl']);
      if (userTtl !== undefined) settings.userTokenTtl = userTtl;
      if (appTtl !== undefined) settings.appTokenTtl = appTtl;
      if (values['app-token-format'] !== undefined) {
        if (values['app-token-format'] !== 'opaque' && values['app-token-format'] !== 'jwt') throw new UsageError('--app-token-format is opaque or jwt');
        settings.appTokenFormat = values['app-token-format'];
      }
      if (values['saml-idps'] !== undefined) {
        const names = values['saml-idps'].split(/[\s,]+/).filter(Boolean);
        const known = new Set((await s.samlIdps.list()).map((i) => i.name));
        for (const name of names) if (!known.has(name)) throw new UsageError(`no trusted SAML IdP "${name}" (add it with stepgate saml-idp add)`);
        settings.samlIdps = [...new Set(names)];
      }
      if (values['allow-non-expiring']) settings.allowNonExpiring = true;
      if (values['no-allow-non-expiring']) settings.allowNonExpiring = false;
      if (!settings.allowNonExpiring && ((settings.userTokenTtl ?? 1) < 0 || (settings.appTokenTtl ?? 1) < 0)) {
        throw new UsageError('a negative token lifetime (never expires) needs --allow-non-expiring for this client');
      }
      if (!(await s.clients.update(clientId, { grantTypes, settings }))) throw new UsageError(`no client "${clientId}"`);
      const summary = {
        client_id: clientId, grant_types: grantTypes, scopes: settings.scopes ?? [],
        user_token_ttl: settings.userTokenTtl ?? s.config.ttl.accessToken, app_token_ttl: settings.appTokenTtl ?? s.config.ttl.clientCredentials,
        allow_non_expiring: settings.allowNonExpiring === true, app_token_format: settings.appTokenFormat ?? 'opaque',
        saml_idps: settings.samlIdps ?? [],
      };
      const lifetime = (ttl: number) => (ttl < 0 ? 'never expire' : `${ttl} s`);
      out.print(`client ${clientId}: grants ${grantTypes.join(',')}; scopes ${summary.scopes.join(' ') || '-'}; user tokens ${lifetime(summary.user_token_ttl)}; application tokens ${lifetime(summary.app_token_ttl)} (${summary.app_token_format})`, summary);
      return 0;
    }
    case 'saml-idp add': {
      const [name] = rest;
      if (!name || !/^[A-Za-z0-9._-]{1,128}$/.test(name)) throw new UsageError('saml-idp add needs a name of letters, digits, ".", "_" or "-"');
      if (!values.issuer) throw new UsageError("saml-idp add needs --issuer <entityID> (the assertions' Issuer)");
      if (!values['cert-file']) throw new UsageError('saml-idp add needs --cert-file <pem> (the IdP signing certificate)');
      let pem: string;
      try {
        pem = readFileSync(values['cert-file'], 'utf8');
        new X509Certificate(pem);
      } catch {
        throw new UsageError(`${values['cert-file']} is not a readable PEM certificate`);
      }
      if (!(await s.samlIdps.add({ name, issuer: values.issuer, certificate: pem.trim() }))) throw new UsageError(`a SAML IdP named "${name}" or with issuer "${values.issuer}" already exists`);
      out.print(`SAML IdP ${name} trusted for assertions issued by ${values.issuer}`, { name, issuer: values.issuer });
      return 0;
    }
    case 'saml-idp list': {
      const idps = await s.samlIdps.list();
      out.print(idps.map((i) => `${i.name}\t${i.issuer}\t${new X509Certificate(i.certificate).subject.replace(/\n/g, ', ')}`).join('\n') || '(no SAML IdPs)',
        idps.map((i) => ({ name: i.name, issuer: i.issuer, certificate_subject: new X509Certificate(i.certificate).subject })));
      return 0;
    }
    case 'saml-idp remove': {
      const [name] = rest;
      if (!name) throw new UsageError('usage: stepgate saml-idp remove <name>');
      if (!(await s.samlIdps.remove(name))) throw new UsageError(`no SAML IdP "${name}"`);
      out.print(`SAML IdP ${name} removed`, { name, removed: true });
      return 0;
    }
    case 'client list': {
      const clients = await s.clients.list();
      out.print(clients.map((c) => `${c.clientId}\t${c.secret === null ? 'public' : 'confidential'}\t${c.chain}\t${c.redirectUris.join(' ')}`).join('\n') || '(no clients)',
        clients.map((c) => ({ client_id: c.clientId, public: c.secret === null, chain: c.chain, redirect_uris: c.redirectUris, grant_types: c.grantTypes, settings: c.settings })));
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
    console.error(`stepgate: ${(err as Error).message.replace(/\s*\n\s*/g, ' ')}`);
    process.exitCode = 2;
  } else {
    console.error(`stepgate: ${(err as Error).message}`);
    process.exitCode = 1;
  }
}
