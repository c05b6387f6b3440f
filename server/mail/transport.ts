import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Transporter } from 'nodemailer';
import type { Config } from '../../config/index.ts';

/** One finished mail: both parts are always there. */
export type Mail = { to: string; subject: string; text: string; html: string; headers?: Record<string, string> };

/**
 * Where mail goes. `smtp`: the server named by SMTP_URL (nodemailer upgrades smtp:// with
 * STARTTLS when the server offers it; smtps:// is TLS from the first byte). `files`:
 * development without a mail server — each mail becomes <dataDir>/mail/<name>.eml, plus a
 * .json with its text part for /dev/mail. `off`: production without SMTP_URL.
 */
export type Transport =
  | { kind: 'smtp' | 'files'; send(mail: Mail & { from: string }): Promise<{ file?: string }>; close(): void }
  | { kind: 'off' };

export function mailDirectory(config: Config): string {
  return join(config.dataDir, 'mail');
}

/** nodemailer's transport for `options`, loaded (with nodemailer) at the first mail: most processes never send one. */
function lazily(options: Record<string, unknown>) {
  let transporter: Promise<Transporter> | undefined;
  const get = () => (transporter ??= import('nodemailer').then(({ default: nodemailer }) => nodemailer.createTransport(options)));
  return {
    sendMail: async (mail: Mail & { from: string }) => (await get()).sendMail(mail),
    close: () => void transporter?.then((t) => t.close()),
  };
}

export function createTransport(config: Config): Transport {
  if (config.mail.smtpUrl) {
    // nodemailer waits 2 minutes for a connection by default: a mail server that drops
    // packets would keep a send (and shutdown, which waits for sends) hanging that long.
    const smtp = lazily({ url: config.mail.smtpUrl, connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 30_000 });
    return {
      kind: 'smtp',
      async send(mail) {
        await smtp.sendMail(mail);
        return {};
      },
      close: () => smtp.close(),
    };
  }
  if (config.production) return { kind: 'off' };
  const render = lazily({ streamTransport: true, buffer: true, newline: 'unix' });
  const dir = mailDirectory(config);
  return {
    kind: 'files',
    async send(mail) {
      const { message } = await render.sendMail(mail) as unknown as { message: Buffer };
      await mkdir(dir, { recursive: true });
      const name = `${new Date().toISOString().replace(/[:.]/g, '-')}-${randomBytes(4).toString('hex')}`;
      await writeFile(join(dir, `${name}.eml`), message, { mode: 0o600 });
      await writeFile(join(dir, `${name}.json`), JSON.stringify({ to: mail.to, subject: mail.subject, date: new Date().toISOString(), text: mail.text }), { mode: 0o600 });
      return { file: `${name}.eml` };
    },
    close: () => render.close(),
  };
}
