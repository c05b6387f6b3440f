import { CookieJar } from 'tough-cookie';
import * as cheerio from 'cheerio';

export type Page = { status: number; url: string; html: string; location?: string; headers: Headers; $: cheerio.CheerioAPI };

/**
 * A browser without JavaScript: keeps cookies (paths, SameSite, signatures untouched),
 * follows redirects within the broker, and submits forms as a person would. Stops at a
 * redirect to `stopAt` (the relying party's callback) and returns it.
 */
export class Browser {
  readonly jar = new CookieJar();
  readonly #stopAt: string | undefined;
  /** sent with every request (e.g. X-Forwarded-For from a trusted proxy) */
  readonly #headers: Record<string, string>;

  constructor(stopAt?: string, headers: Record<string, string> = {}) {
    this.#stopAt = stopAt;
    this.#headers = headers;
  }

  async request(url: string, init: { method?: string; form?: Record<string, string>; headers?: Record<string, string> } = {}): Promise<Page> {
    const headers: Record<string, string> = { ...this.#headers, ...init.headers };
    const cookie = await this.jar.getCookieString(url);
    if (cookie) headers.cookie = cookie;
    let body: string | undefined;
    if (init.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(init.form).toString();
    }
    const res = await fetch(url, { method: init.method ?? (body ? 'POST' : 'GET'), headers, body, redirect: 'manual' });
    for (const c of res.headers.getSetCookie()) await this.jar.setCookie(c, url, { ignoreError: true });
    const html = await res.text();
    const location = res.headers.get('location') ?? undefined;
    return { status: res.status, url, html, location: location && new URL(location, url).href, headers: res.headers, $: cheerio.load(html) };
  }

  /** GET, then follow redirects until a page renders or the redirect leaves for `stopAt`. */
  async go(url: string, init: { method?: string; form?: Record<string, string> } = {}): Promise<Page> {
    let page = await this.request(url, init);
    for (let hops = 0; page.location && hops < 20; hops++) {
      if (this.#stopAt && page.location.startsWith(this.#stopAt)) return page;
      page = await this.request(page.location);
    }
    return page;
  }

  /** Fills and submits the page's first form whose action matches `match` (default: the first form). */
  async submit(page: Page, values: Record<string, string>, match?: RegExp, button?: { name: string; value: string }): Promise<Page> {
    const forms = page.$('form').toArray();
    const form = forms.find((f) => !match || match.test(page.$(f).attr('action') ?? ''));
    if (!form) throw new Error(`no form matching ${match} on page:\n${page.html.slice(0, 2000)}`);
    const data: Record<string, string> = {};
    page.$(form).find('input').each((_, el) => {
      const name = page.$(el).attr('name');
      const type = page.$(el).attr('type');
      // as a browser does: an unticked checkbox is not sent
      if ((type === 'checkbox' || type === 'radio') && page.$(el).attr('checked') === undefined) return;
      if (name) data[name] = page.$(el).attr('value') ?? '';
    });
    if (button) data[button.name] = button.value;
    Object.assign(data, values);
    const action = new URL(page.$(form).attr('action') ?? page.url, page.url).href;
    return this.go(action, { method: 'POST', form: data });
  }
}
