import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { loadConfig, ConfigError } from '../../config/index.ts';
import { openServices, type Services } from '../services.ts';
import type { NotifyLogout } from '../storage/revoke-account.ts';
import { Manage, ManageError } from '../manage/index.ts';
import { adminSchemas } from '../manage/schemas.ts';
import { ChainError } from '../flow/chain.ts';
import { resealAll } from '../security/reseal.ts';
import { UsageError, commandHelp, parseCommand, usageLine, type Cli, type Command, type Io } from './command.ts';
import { clientCommands } from './clients.ts';
import { userCommands } from './users.ts';
import { idpCommands } from './idps.ts';
import { auditCommands } from './audit.ts';
import { keyCommands } from './keys.ts';

const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

const system: Command[] = [
  {
    name: 'serve', summary: 'run the broker (what npm start runs)', standalone: true,
    async run(cli) {
      const config = loadConfig(cli.io.env);
      // Loaded only to serve: the other commands need no HTTP stack.
      const { serve } = await import('../index.ts');
      const running = await serve(config, { handleSignals: true });
      cli.io.out(`stepgate listening on ${config.issuer} (port ${(running.server.address() as { port: number } | null)?.port})`);
      return -1;
    },
  },
  {
    name: 'secrets reseal', summary: 'after putting a new key first in STEPGATE_SECRET_KEYS: re-encrypt everything under it (then drop the old key)',
    async run(cli) {
      const counts = await resealAll(cli.s.db, cli.s.keyring);
      cli.print(Object.entries(counts).map(([table, n]) => `${table}: ${n} re-encrypted`).join('\n'), counts);
    },
  },
];

/**
 * Every command. The client flags come from the client field table, which needs the
 * authenticator catalog only for validating chains: an empty one serves to list flags.
 */
export function commands(fields = adminSchemas({ has: () => true, requiresUser: () => false }).fields): Command[] {
  return [...clientCommands(fields), ...userCommands, ...idpCommands, ...auditCommands, ...keyCommands, ...system];
}

function overview(list: Command[]): string {
  const rows = list.map((c) => `  ${usageLine(c).replace(/^stepgate /, '').padEnd(48)} ${c.summary}`);
  return `usage: stepgate <noun> <verb> [options]   (--json on any command: machine-readable output; --help on any command: its options)

${rows.join('\n')}

  --version                                        the version`;
}

/** The command named by the first words of argv, and the rest. */
function find(list: Command[], argv: string[]): { command: Command; rest: string[] } | undefined {
  const words = argv.filter((a) => !a.startsWith('-'));
  for (const n of [2, 1]) {
    const name = words.slice(0, n).join(' ');
    const command = list.find((c) => c.name === name);
    if (command) {
      const rest = [...argv];
      for (const w of words.slice(0, n)) rest.splice(rest.indexOf(w), 1);
      return { command, rest };
    }
  }
  return undefined;
}

/** A refused change as one line, naming the CLI flag for each field. */
function refusal(err: ManageError, fields: Record<string, { cli: { flag: string } }>): string {
  if (err.issues.length === 0) return err.message;
  return err.issues.map((i) => {
    const field = i.path.split('.')[0]!;
    const flag = fields[field]?.cli.flag ?? field.replace(/_/g, '-');
    return `${field === '(body)' ? '' : `--${flag}: `}${i.message}`;
  }).join('; ');
}

/**
 * The CLI's back-channel logout (`user disable`, `user delete`, `user password`, taking the
 * admin role). The CLI has no running server, yet the applications must hear that an
 * account's sessions ended, at once, even if no server is up: so it builds oidc-provider
 * as the server does (server/provider/index.ts providerFor: the same clients, signing keys
 * from storage, outbound policy), without listening, and lets it sign and send the logout
 * tokens. The tokens are the ones /logout would send; nothing is queued for later. Loaded
 * only when a revocation ended sessions: the other commands need no provider.
 */
function notifyLogoutFromCli(s: Services): NotifyLogout {
  let send: Promise<NotifyLogout> | undefined;
  return async (accountId, ended) => {
    send ??= (async () => {
      const [{ providerFor }, { backchannelLogout }, { logLogoutEvents }, { createViews }] = await Promise.all([
        import('../provider/index.ts'), import('../provider/backchannel-logout.ts'), import('../provider/logout.ts'), import('../views.ts')]);
      const provider = await providerFor(s, createViews(s.config.production, s.config.brand));
      logLogoutEvents(provider, s.logger);
      return backchannelLogout(provider);
    })();
    return (await send)(accountId, ended);
  };
}

/** Runs one command; the exit status (-1: keep running, for serve). */
async function main(argv: string[], io: Io): Promise<number> {
  if (argv[0] === '--version' || argv[0] === '-v') {
    io.out(VERSION);
    return 0;
  }
  const listed = commands();
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    io.out(overview(listed));
    return argv.length === 0 ? 2 : 0;
  }
  const found = find(listed, argv);
  const verbs = listed.filter((c) => c.name.startsWith(`${argv[0]} `)).map((c) => c.name.split(' ')[1]);
  if (!found && verbs.length) throw new UsageError(`stepgate ${argv[0]} needs one of: ${verbs.join(', ')} (stepgate ${argv[0]} <verb> --help for its options)`);
  if (!found) throw new UsageError(`unknown command "${argv.filter((a) => !a.startsWith('-')).slice(0, 2).join(' ')}"; run stepgate --help`);
  const { values, positionals } = parseCommand(found.command, found.rest);
  if (values.help) {
    io.out(commandHelp(found.command));
    return 0;
  }
  if (found.command.standalone) return (await found.command.run({ io } as Cli, positionals, values)) ?? 0;

  const s = await openServices(loadConfig(io.env));
  const manage = new Manage({ ...s, notifyLogout: notifyLogoutFromCli(s) });
  const json = values.json === true;
  const cli: Cli = {
    io, s, manage, json,
    by: { actor: `cli:${userInfo().username}`, address: null },
    print: (human, data) => io.out(json ? JSON.stringify(data) : human),
    async readStdin(what) {
      const value = await io.stdin();
      if (value === undefined) throw new UsageError(`expected ${what} on standard input (pipe it in)`);
      const trimmed = value.replace(/\r?\n$/, '');
      if (trimmed === '') throw new UsageError('standard input was empty');
      return trimmed;
    },
  };
  try {
    // the real command, whose client flags validate chains against this broker's authenticators
    const command = find(commands(manage.schemas.fields), argv)!.command;
    return (await command.run(cli, positionals, values)) ?? 0;
  } catch (err) {
    if (err instanceof ManageError) throw new UsageError(refusal(err, manage.schemas.fields));
    throw err;
  } finally {
    await s.mail.close();
    await s.outbound.close();
    await s.db.close();
  }
}

/**
 * Runs the CLI on `argv` and returns its exit status (-1: still serving). A user mistake
 * is one line on stderr and status 2; anything else, status 1.
 */
export async function execute(argv: string[], io: Io): Promise<number> {
  try {
    return await main(argv, io);
  } catch (err) {
    const mistake = err instanceof UsageError || err instanceof ChainError || err instanceof ConfigError;
    io.err(`stepgate: ${(err as Error).message.replace(/\s*\n\s*/g, ' ')}`);
    return mistake ? 2 : 1;
  }
}

const processIo: Io = {
  env: process.env,
  out: (text) => console.log(text),
  err: (text) => console.error(text),
  async stdin() {
    if (process.stdin.isTTY) return undefined;
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  },
};

/** The process entry point. */
export async function run(): Promise<void> {
  const code = await execute(process.argv.slice(2), processIo);
  if (code >= 0) process.exitCode = code;
}
