import { parse } from '../manage/schemas.ts';
import type { KeyView } from '../manage/keys.ts';
import type { Command } from './command.ts';

const line = (k: KeyView) => `${k.kid}\t${k.alg}\t${k.state}\t${k.created}${k.retirable_from ? `\tretirable from ${k.retirable_from}` : ''}`;

export const keyCommands: Command[] = [
  {
    name: 'keys list', summary: 'signing keys: the newest of each algorithm signs, older ones stay published until retired',
    async run(cli) {
      const keys = await cli.manage.keys.list();
      cli.print(keys.map(line).join('\n'), keys);
    },
  },
  {
    name: 'keys rotate', summary: 'add a new signing key per algorithm (every running process signs with it within seconds)',
    options: { alg: { type: 'string', help: 'only this algorithm: RS256, ES256 or EdDSA', value: 'alg' } },
    async run(cli, _args, v) {
      const added = await cli.manage.keys.rotate(parse(cli.manage.schemas.keyRotate, { alg: v.alg }).alg, cli.by);
      cli.print(added.map(line).join('\n'), added);
    },
  },
  {
    name: 'keys retire', args: '<kid>', summary: 'stop publishing an old key (refused while tokens it signed may be valid)',
    async run(cli, [kid]) {
      await cli.manage.keys.retire(kid!, cli.by);
      cli.print(`key ${kid} retired`, { kid, retired: true });
    },
  },
];
