import { parse, type AdminSchemas } from '../manage/schemas.ts';
import type { ClientView } from '../manage/clients.ts';
import { readFileSync } from 'node:fs';
import { UsageError, type Command, type Option } from './command.ts';
import { describeSimulation } from '../flow/simulate.ts';

type Values = Record<string, string | string[] | boolean | undefined>;

/** One flag per client field (server/manage/client-fields.ts), so the CLI sets every field the API sets. */
function fieldOptions(fields: AdminSchemas['fields']): Record<string, Option> {
  return Object.fromEntries(Object.values(fields).map(({ cli }) => [cli.flag, {
    type: cli.kind === 'bool' ? 'boolean' : 'string',
    ...(cli.kind === 'list' && { multiple: true as const }),
    help: `${cli.help}${cli.kind === 'bool' ? ` (--no-${cli.flag} to unset)` : ''}`,
    value: cli.kind === 'int' ? 'seconds' : cli.kind === 'list' ? 'values' : 'value',
  } satisfies Option]));
}

/**
 * The flags given, as API input: lists repeat or separate with commas/spaces (URIs only
 * repeat), numbers are whole, and an empty value clears a setting (update only).
 */
function fieldInput(fields: AdminSchemas['fields'], values: Values, clearing: boolean): Record<string, unknown> {
  const input: Record<string, unknown> = {};
  for (const [name, { cli }] of Object.entries(fields)) {
    const v = values[cli.flag];
    if (v === undefined) continue;
    if (cli.kind === 'bool') input[name] = v;
    else if (cli.kind === 'list') {
      const items = (v as string[]).flatMap((x) => (cli.flag.endsWith('-uri') ? [x.trim()] : x.split(/[\s,]+/))).filter(Boolean);
      input[name] = items;
    } else if (v === '') {
      if (!clearing) throw new UsageError(`--${cli.flag} needs a value`);
      input[name] = null;
    } else if (cli.kind === 'int') {
      if (!/^-?\d{1,10}$/.test(v as string)) throw new UsageError(`--${cli.flag} must be a whole number of seconds (-1: never expires)`);
      input[name] = Number(v);
    } else input[name] = v;
  }
  return input;
}

function describe(c: ClientView): string {
  const grants = (c.grant_types as string[]).map((g) => g.replace('urn:ietf:params:oauth:grant-type:', '')).join(',');
  const lifetime = (ttl: unknown) => (ttl === null ? 'default' : (ttl as number) < 0 ? 'never expire' : `${ttl as number} s`);
  return [
    `client ${c.client_id} (${c.public ? 'public' : 'confidential'}): ${c.name as string}`,
    `  chain: ${c.chain as string}. ${c.chain_description}`,
    `  grants: ${grants}; scopes: ${(c.scopes as string[]).join(' ') || '-'}; id_token: ${c.id_token_signed_response_alg as string}`,
    `  redirect URIs: ${(c.redirect_uris as string[]).join(' ') || '-'}; post-logout: ${(c.post_logout_redirect_uris as string[]).join(' ') || '-'}`,
    `  user tokens ${lifetime(c.user_token_ttl)}; application tokens ${lifetime(c.app_token_ttl)} (${c.app_token_format as string})${c.admin_api ? '; admin API allowed' : ''}`,
  ].join('\n');
}

const withSecret = (human: string, secret: string | undefined) => (secret ? `${human}\nclient secret (shown once, store it now): ${secret}` : human);

export function clientCommands(fields: AdminSchemas['fields']): Command[] {
  const options = fieldOptions(fields);
  return [
    {
      name: 'client list', summary: 'list clients',
      async run(cli) {
        const clients = await cli.manage.clients.list();
        cli.print(clients.map((c) => `${c.client_id}\t${c.public ? 'public' : 'confidential'}\t${c.chain as string}\t${(c.redirect_uris as string[]).join(' ')}`).join('\n') || '(no clients)', clients);
      },
    },
    {
      name: 'client show', args: '<client_id>', summary: 'one client, every field',
      async run(cli, [id]) {
        const c = await cli.manage.clients.get(id!);
        cli.print(describe(c), c);
      },
    },
    {
      name: 'client add', args: '<client_id>', summary: 'register a client; a secret is generated and shown once unless --public or --secret-stdin',
      options: {
        public: { type: 'boolean', help: 'no secret (apps that cannot keep one; PKCE)' },
        'secret-stdin': { type: 'boolean', help: 'read the secret from standard input (16+ of A-Z a-z 0-9 . _ ~ -)' },
        ...options,
      },
      notes: 'example: stepgate client add webapp --redirect-uri https://app.example/cb --chain "password,totp"',
      async run(cli, [id], values) {
        if (values.public && values['secret-stdin']) throw new UsageError('choose one of --secret-stdin (confidential client) or --public');
        const secret = values['secret-stdin'] ? await cli.readStdin('the client secret') : undefined;
        const input = { client_id: id, public: values.public === true, ...(secret !== undefined && { client_secret: secret }), ...fieldInput(fields, values, false) };
        const { client, client_secret } = await cli.manage.clients.create(parse(cli.manage.schemas.clientCreate, input), cli.by);
        cli.print(withSecret(`client ${client.client_id} created; chain: ${client.chain_description}`, client_secret), { ...client, ...(client_secret && { client_secret }) });
      },
    },
    {
      name: 'client update', args: '<client_id>', summary: 'change fields of a client (an empty value, e.g. --logo-uri "", clears a setting)',
      options: { ...options, 'rotate-secret': { type: 'boolean', help: 'issue a new secret (shown once); the old one stops working' } },
      async run(cli, [id], values) {
        const input = { ...fieldInput(fields, values, true), ...(values['rotate-secret'] && { rotate_secret: true }) };
        if (Object.keys(input).length === 0) throw new UsageError('client update: nothing to change (stepgate client update --help lists the fields)');
        const { client, client_secret } = await cli.manage.clients.update(id!, parse(cli.manage.schemas.clientUpdate, input), cli.by);
        cli.print(withSecret(describe(client), client_secret), { ...client, ...(client_secret && { client_secret }) });
      },
    },
    {
      name: 'client chain', args: '<client_id> [<chain>]', summary: 'replace the chain (text, or JSON with levels and conditions); applies to the next login',
      options: { file: { type: 'string', help: 'read the chain from a file (JSON form: README "Policies")', value: 'path' } },
      notes: 'examples: stepgate client chain shop "password,totp"\n          stepgate client chain shop --file chain.json',
      async run(cli, [id, text], values) {
        if ((text === undefined) === (values.file === undefined)) throw new UsageError('client chain: give the chain as an argument or --file <path>, not both');
        let chain = text;
        if (values.file !== undefined) {
          try {
            chain = readFileSync(values.file as string, 'utf8');
          } catch (err) {
            throw new UsageError(`--file: cannot read ${values.file as string} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
          }
        }
        const { client } = await cli.manage.clients.update(id!, parse(cli.manage.schemas.clientUpdate, { chain }), cli.by);
        cli.print(`client ${client.client_id}: ${client.chain_description}`, client);
      },
    },
    {
      name: 'simulate', args: '<client_id>', summary: 'what a user would face signing in at a client, and why (changes nothing)',
      options: {
        user: { type: 'string', help: 'the username', value: 'username' },
        address: { type: 'string', help: 'the client address (network conditions)', value: 'ip' },
        acr: { type: 'string', help: 'an acr_values value (step-up)', value: 'acr' },
        'max-age': { type: 'string', help: 'the request\'s max_age', value: 'seconds' },
        'remembered-device': { type: 'boolean', help: 'this browser is remembered for the user' },
        session: { type: 'string', help: 'steps the browser session satisfied, e.g. "password@-10m,totp@-3h"', value: 'steps' },
      },
      notes: 'example: stepgate simulate shop --user alice --acr urn:stepgate:loa:2 --session "password@-10m"',
      async run(cli, [id], values) {
        if (typeof values.user !== 'string') throw new UsageError('simulate needs --user <username>');
        const maxAge = values['max-age'];
        if (maxAge !== undefined && !/^\d{1,9}$/.test(maxAge as string)) throw new UsageError('--max-age must be a whole number of seconds');
        const input = {
          user: values.user, remembered_device: values['remembered-device'] === true,
          ...(values.address !== undefined && { address: values.address }),
          ...(values.acr !== undefined && { acr: values.acr }),
          ...(maxAge !== undefined && { max_age: Number(maxAge) }),
          ...(values.session !== undefined && { session: values.session }),
        };
        const simulation = await cli.manage.clients.simulate(id!, parse(cli.manage.schemas.simulate, input));
        cli.print(describeSimulation(simulation, (a) => cli.s.runner.label(a)), simulation);
      },
    },
    {
      name: 'client secret', args: '<client_id>', summary: 'issue a new secret (shown once); the old one stops working',
      async run(cli, [id]) {
        const { client, client_secret } = await cli.manage.clients.update(id!, { rotate_secret: true }, cli.by);
        cli.print(withSecret(`client ${client.client_id}: new secret issued`, client_secret), { client_id: client.client_id, client_secret });
      },
    },
    {
      name: 'client remove', args: '<client_id>', summary: 'delete a client',
      async run(cli, [id]) {
        await cli.manage.clients.remove(id!, cli.by);
        cli.print(`client ${id} removed`, { client_id: id, removed: true });
      },
    },
  ];
}
