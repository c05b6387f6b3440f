import type { Browser, Page } from './browser.ts';
import { PASSWORD, RP_CALLBACK } from './fixtures.ts';

export type Credentials = { username: string; password: string };

/**
 * Drives one login through stepgate's password form, an upstream provider's login form
 * and stepgate's consent, as far as it goes: the redirect to the relying party, or the
 * first error page (status >= 400). `upstream: 'cancel'` presses the upstream's Cancel.
 */
export async function federatedLogin(browser: Browser, start: string | Page, who: { username?: string; upstream?: Credentials | 'cancel' }): Promise<Page> {
  let page = typeof start === 'string' ? await browser.go(start) : start;
  for (let guard = 0; guard < 10; guard++) {
    if (page.location?.startsWith(RP_CALLBACK) || page.status >= 400) return page;
    if (page.$('form#upstream-login').length) {
      page = who.upstream === 'cancel' || !who.upstream
        ? await browser.submit(page, {}, /login$/, { name: 'action', value: 'cancel' })
        : await browser.submit(page, { ...who.upstream }, /login$/, { name: 'action', value: 'login' });
    } else if (page.$('input[name=password]').length) {
      page = await browser.submit(page, { username: who.username ?? '', password: PASSWORD });
    } else if (page.$('button[value=allow]').length) {
      page = await browser.submit(page, {}, /consent/, { name: 'decision', value: 'allow' });
    } else {
      throw new Error(`unexpected page (${page.status}) at ${page.url}:\n${page.html.slice(0, 2000)}`);
    }
  }
  throw new Error('login did not finish');
}

/** Submits the upstream's login form without following the way back: returns the callback URL the upstream sends the browser to. */
export async function upstreamCallbackUrl(browser: Browser, form: Page, creds: Credentials, brokerIssuer: string): Promise<string> {
  const action = new URL(form.$('form#upstream-login').attr('action')!, form.url).href;
  let res = await browser.request(action, { form: { ...creds, action: 'login' } });
  for (let hops = 0; res.location && hops < 10; hops++) {
    if (res.location.startsWith(`${brokerIssuer}/federation/`)) return res.location;
    res = await browser.request(res.location);
  }
  throw new Error(`the upstream did not send the browser back (status ${res.status})`);
}

/** Follows redirects from `url` until one would leave for the upstream's /auth; returns that URL unfollowed. */
export async function authorizationRequestUpstream(browser: Browser, url: string, upstreamIssuer: string): Promise<string> {
  let res = await browser.request(url);
  for (let hops = 0; res.location && hops < 10; hops++) {
    if (res.location.startsWith(upstreamIssuer)) return res.location;
    res = await browser.request(res.location);
  }
  throw new Error(`no redirect to ${upstreamIssuer} (status ${res.status}): ${res.html.slice(0, 500)}`);
}
