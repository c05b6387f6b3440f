import type { Config } from '../../config/index.ts';
import type { Database } from '../storage/database.ts';
import type { Users } from '../storage/users.ts';
import type { Keyring } from '../security/keyring.ts';
import type { Logger } from '../logger.ts';
import { createTransport, type Mail, type Transport } from './transport.ts';
import { noticeMail, speaker, type EventDetails, type SecurityEvent, type Speaker } from './templates.ts';
import { current } from '../i18n/index.ts';
import type { User } from '../storage/users.ts';
import { EmailTokens } from './tokens.ts';
import { SendLimits } from './send-limits.ts';

export type { SecurityEvent, EventDetails } from './templates.ts';

/** What a failed send is logged with: never the mail, its link or code, nor the SMTP URL's password. */
function describe(err: unknown) {
  const e = err as { code?: string; command?: string; responseCode?: number; message?: string };
  return { code: e.code, command: e.command, responseCode: e.responseCode, message: e.message?.slice(0, 200) };
}

/**
 * Outgoing mail. Sending happens after the request that caused it has been answered (a
 * slow or dead mail server never holds up a page, and a reset request takes the same time
 * whether or not a mail goes out); a failed send is retried `sendAttempts` times, 1 s
 * apart doubling, then given up and logged without its content.
 */
export class Mailer {
  readonly #config: Config;
  readonly #transport: Transport;
  readonly #users: Users;
  readonly #logger: Logger;
  readonly #pending = new Set<Promise<void>>();
  readonly tokens: EmailTokens;
  readonly limits: SendLimits;
  /** milliseconds before the first retry (tests shorten it) */
  retryDelayMs = 1000;

  constructor(deps: { config: Config; db: Database; users: Users; keyring: Keyring; logger: Logger }) {
    this.#config = deps.config;
    this.#transport = createTransport(deps.config);
    this.#users = deps.users;
    this.#logger = deps.logger;
    this.tokens = new EmailTokens(deps.db, deps.keyring.derive('stepgate email codes')[0]!);
    this.limits = new SendLimits(deps.db);
  }

  /** False in production without SMTP_URL: no codes, links or notices can be sent. */
  get enabled(): boolean {
    return this.#transport.kind !== 'off';
  }

  /** `files` when mails go to <dataDir>/mail and /dev/mail (development without SMTP_URL). */
  get kind(): Transport['kind'] {
    return this.#transport.kind;
  }

  get brokerName(): string {
    return this.#config.mail.brokerName;
  }

  /**
   * The language of a mail to `user`: the one they last signed in with; else the language of
   * the request that causes the mail (ui_locales, Accept-Language, the configured default);
   * English outside a request. A mail caused by someone else's request (an admin's reset,
   * another person's wrong guesses) so still reaches its owner in the owner's language.
   * The stored language is read afresh: a cached user may be behind (Users.setLocale).
   * `requestLanguage`: the request's, taken before work done after the answer.
   */
  async speakerFor(user: Pick<User, 'id'>, requestLanguage = current().language): Promise<Speaker> {
    return speaker((await this.#users.localeOf(user.id)) ?? requestLanguage);
  }

  /** An absolute link to this broker carrying `token`. */
  link(path: string, token: string): string {
    return `${this.#config.issuer}${path}?token=${encodeURIComponent(token)}`;
  }

  /** Start-up line for the operator. */
  announce(): void {
    if (this.#transport.kind === 'off') {
      this.#logger.warn('SMTP_URL is not set: email is disabled (no email codes, password resets, address verification or security notices). Set SMTP_URL and MAIL_FROM to enable it.');
    } else if (this.#transport.kind === 'files') {
      this.#logger.info({ dir: `${this.#config.dataDir}/mail`, page: `${this.#config.issuer}/dev/mail` }, 'SMTP_URL is not set: mails are written to files (development only)');
    }
  }

  /** Queues `mail`; `purpose` names it in the logs (its content never goes there). */
  deliver(mail: Mail, purpose: string): void {
    const transport = this.#transport;
    if (transport.kind === 'off') {
      this.#logger.warn({ purpose }, 'mail not sent: email is disabled (no SMTP_URL)');
      return;
    }
    this.later(purpose, async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          const { file } = await transport.send({ ...mail, from: this.#config.mail.from });
          this.#logger.info({ purpose, to: mail.to, subject: mail.subject, ...(file && { file }) }, 'mail sent');
          return;
        } catch (err) {
          if (attempt >= this.#config.mail.sendAttempts) {
            this.#logger.error({ purpose, to: mail.to, attempts: attempt, err: describe(err) }, 'mail could not be sent; giving up');
            return;
          }
          this.#logger.warn({ purpose, to: mail.to, attempt, err: describe(err) }, 'mail not sent; will retry');
          await new Promise((resolve) => setTimeout(resolve, this.retryDelayMs * 2 ** (attempt - 1)));
        }
      }
    });
  }

  /**
   * Runs mail work after the current request is answered (e.g. issuing a reset link only
   * when the account exists, so the answer takes the same time either way); tracked by idle().
   */
  later(purpose: string, work: () => Promise<void>): void {
    const job = work().catch((err: unknown) => this.#logger.error({ purpose, err: describe(err) }, 'mail work failed'));
    this.#pending.add(job);
    void job.finally(() => this.#pending.delete(job));
  }

  /**
   * THE way to tell a user about a security event of their account (password changed or
   * reset, factor added or removed, recovery code used, new remembered device, lockout,
   * address changed). Goes to the account's verified address only; never throws.
   * `email_changed` goes to `details.previousAddress`, when that one was verified.
   */
  async notify(userId: string, event: SecurityEvent, details: EventDetails & { previousAddress?: string } = {}): Promise<void> {
    try {
      const user = await this.#users.byId(userId);
      if (!user) return;
      const to = event === 'email_changed' ? details.previousAddress : user.emailVerified ? user.email : undefined;
      if (!to) return;
      const { previousAddress: _, ...shown } = details;
      this.deliver(noticeMail(await this.speakerFor(user), to, this.brokerName, user.username, event, shown), `notice:${event}`);
    } catch (err) {
      this.#logger.error({ event, err: describe(err) }, 'security notice could not be prepared');
    }
  }

  /** Resolves when every queued mail was sent or given up (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.#pending.size > 0) await Promise.all([...this.#pending]);
  }

  async close(): Promise<void> {
    await this.idle();
    if (this.#transport.kind !== 'off') this.#transport.close();
  }
}
