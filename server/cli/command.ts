import { parseArgs } from 'node:util';
import type { Services } from '../services.ts';
import type { Manage, Actor } from '../manage/index.ts';

/** A user mistake: one line on stderr, exit status 2. */
export class UsageError extends Error {}

export type Option = { type: 'string' | 'boolean'; multiple?: true; help: string; value?: string };

/** Where a run of the CLI reads and writes: the process's, or a test's. */
export type Io = {
  env: Record<string, string | undefined>;
  out(text: string): void;
  err(text: string): void;
  /** all of standard input; undefined when it is a terminal */
  stdin(): Promise<string | undefined>;
};

/** What a command's `run` works with. */
export type Cli = {
  io: Io;
  s: Services;
  manage: Manage;
  by: Actor;
  json: boolean;
  /** prints `human`, or `data` as one line of JSON with --json */
  print(human: string, data: unknown): void;
  readStdin(what: string): Promise<string>;
};

export type Command = {
  /** "client add" */
  name: string;
  /** positionals as shown in the usage: "<client_id>", "<username> [<subject>]" */
  args?: string;
  summary: string;
  options?: Record<string, Option>;
  /** extra lines for --help */
  notes?: string;
  /** runs without opening the database (serve opens its own) */
  standalone?: true;
  run(cli: Cli, args: string[], options: Record<string, string | string[] | boolean | undefined>): Promise<number | void>;
};

const GLOBAL: Record<string, Option> = {
  json: { type: 'boolean', help: 'machine-readable output: one JSON value' },
  help: { type: 'boolean', help: 'this help' },
};

/** `args` as the usage shows them: required "<x>", optional "[<x>]". */
function arity(args = ''): { min: number; max: number } {
  const words = args.split(/\s+/).filter(Boolean);
  return { min: words.filter((w) => w.startsWith('<')).length, max: words.some((w) => w.endsWith('...]')) ? Infinity : words.length };
}

export function usageLine(c: Command): string {
  return `stepgate ${c.name}${c.args ? ` ${c.args}` : ''}${c.options && Object.keys(c.options).length ? ' [options]' : ''}`;
}

export function commandHelp(c: Command): string {
  const options = { ...c.options, ...GLOBAL };
  const rows = Object.entries(options).map(([name, o]) => {
    const flag = o.type === 'boolean' ? `--${name}` : `--${name} <${o.value ?? 'value'}>`;
    return `  ${flag.padEnd(38)} ${o.help}${o.multiple ? ' (repeatable)' : ''}`;
  });
  return `usage: ${usageLine(c)}\n\n${c.summary}\n\noptions:\n${rows.join('\n')}${c.notes ? `\n\n${c.notes}` : ''}`;
}

/**
 * Parses a command's arguments. Node's own parser messages are replaced by one line that
 * names the option and where to look.
 */
export function parseCommand(c: Command, argv: string[]) {
  const options = { ...c.options, ...GLOBAL };
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true, allowNegative: true });
  } catch (err) {
    const code = (err as { code?: string }).code;
    const option = /'(-[^']*)'/.exec((err as Error).message)?.[1] ?? /(--?[\w-]+)/.exec((err as Error).message)?.[1] ?? 'an option';
    const problem = code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? `unknown option ${option.replace(/^(--?[\w-]+).*/, '$1')}`
      : code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' ? `option ${option.replace(/ .*/, '')} needs a value`
        : 'cannot read the arguments';
    throw new UsageError(`${c.name}: ${problem} (stepgate ${c.name} --help lists the options)`);
  }
  const { values, positionals } = parsed;
  if (!values.help) {
    const { min, max } = arity(c.args);
    if (positionals.length < min || positionals.length > max) throw new UsageError(`usage: ${usageLine(c)}`);
  }
  return { values: values as Record<string, string | string[] | boolean | undefined>, positionals };
}
