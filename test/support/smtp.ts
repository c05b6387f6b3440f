import { SMTPServer } from 'smtp-server';
import { simpleParser, type ParsedMail } from 'mailparser';

export type Received = { to: string; subject: string; text: string; html: string; raw: ParsedMail };

export type TestSmtp = {
  port: number;
  url: string;
  mails: Received[];
  /** waits for the first mail to `to` whose subject matches, not taken before */
  take(to: string, subject: RegExp, timeoutMs?: number): Promise<Received>;
  /** mails to `to` not taken yet */
  untaken(to: string): Received[];
  stop(): Promise<void>;
};

/**
 * A real SMTP server (the `smtp-server` package) on a loopback port, requiring
 * AUTH PLAIN/LOGIN with `user`/`pass`; what arrives is parsed with `mailparser`.
 */
export async function startSmtp(auth = { user: 'mailer', pass: 's3cret-smtp-pass' }): Promise<TestSmtp> {
  const mails: Received[] = [];
  const taken = new Set<Received>();
  const server = new SMTPServer({
    disabledCommands: ['STARTTLS'], allowInsecureAuth: true, logger: false,
    onAuth(a, _session, done) {
      if (a.username === auth.user && a.password === auth.pass) return done(null, { user: a.username });
      return done(new Error('Invalid username or password'));
    },
    onData(stream, _session, done) {
      simpleParser(stream).then((mail) => {
        const to = Array.isArray(mail.to) ? mail.to.map((t) => t.text).join(', ') : mail.to?.text ?? '';
        mails.push({ to, subject: mail.subject ?? '', text: mail.text ?? '', html: typeof mail.html === 'string' ? mail.html : '', raw: mail });
        done();
      }, done);
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as { port: number }).port;
  const matches = (m: Received, to: string) => m.to.toLowerCase().includes(to.toLowerCase()) && !taken.has(m);
  return {
    port,
    url: `smtp://${auth.user}:${auth.pass}@127.0.0.1:${port}`,
    mails,
    async take(to, subject, timeoutMs = 15_000) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const mail = mails.find((m) => matches(m, to) && subject.test(m.subject));
        if (mail) {
          taken.add(mail);
          return mail;
        }
        if (Date.now() > until) throw new Error(`no mail to ${to} matching ${subject}; received: ${mails.map((m) => `${m.to}: ${m.subject}`).join(' | ')}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    untaken: (to) => mails.filter((m) => matches(m, to)),
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The 6-digit code in a code mail. */
export function codeIn(mail: Received): string {
  const m = /^\s+(\d{6})\s*$/m.exec(mail.text);
  if (!m) throw new Error(`no code in mail:\n${mail.text}`);
  return m[1]!;
}

/** The first link to `path` in a mail's text. */
export function linkIn(mail: Received, path: string): string {
  const m = new RegExp(`https?://\\S+${path.replace(/\//g, '\\/')}\\?token=[\\w%-]+`).exec(mail.text);
  if (!m) throw new Error(`no ${path} link in mail:\n${mail.text}`);
  return m[0];
}
