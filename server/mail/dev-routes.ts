import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import Router from '@koa/router';
import type { Config } from '../../config/index.ts';
import type { Views } from '../views.ts';
import { mailDirectory } from './transport.ts';

type Stored = { to: string; subject: string; date: string; text: string };

/**
 * /dev/mail: the mails a development broker without SMTP_URL "sent" (written to
 * <dataDir>/mail), newest first, with their text. Mounted only then — never in production,
 * where the path answers 404 like any other.
 */
export function devMailRoutes(config: Config, views: Views) {
  const dir = mailDirectory(config);
  const router = new Router({ prefix: '/dev/mail' });

  async function list(): Promise<(Stored & { name: string })[]> {
    let names: string[];
    try {
      names = (await readdir(dir)).filter((n) => n.endsWith('.json')).sort().reverse().slice(0, 100);
    } catch {
      return [];
    }
    return Promise.all(names.map(async (n) => ({ name: n.slice(0, -5), ...(JSON.parse(await readFile(join(dir, n), 'utf8')) as Stored) })));
  }

  router.get('/', async (ctx) => {
    ctx.type = 'html';
    ctx.body = views.render('views/dev-mail', { title: 'Development mailbox', mails: await list(), dir });
  });

  router.get('/:name', async (ctx) => {
    if (!/^[\w-]+$/.test(ctx.params.name!)) return;
    const mail = (await list()).find((m) => m.name === ctx.params.name);
    if (!mail) return;
    ctx.type = 'html';
    ctx.body = views.render('views/dev-mail', { title: mail.subject, mail, dir });
  });

  return router;
}
