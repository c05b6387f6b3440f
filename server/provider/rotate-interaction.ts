import { randomBytes } from 'node:crypto';
import type Provider from 'oidc-provider';
import type { Context } from 'koa';

export type CookieOptions = { signed: boolean; httpOnly: boolean; sameSite: 'lax'; secure: boolean };

const epoch = () => Math.floor(Date.now() / 1000);

/**
 * Gives a login in progress a new interaction id (and new cookies) after a completed step,
 * so an id or cookie captured before the step is worthless after it. oidc-provider has no
 * call for this; it is the same save-under-a-new-id it does when an interaction starts.
 * Returns the new uid (`next` when given), or undefined when the interaction is gone.
 */
export async function rotateInteraction(provider: Provider, ctx: Context, uid: string, cookie: CookieOptions, next = randomBytes(32).toString('base64url')): Promise<string | undefined> {
  const [old, copy] = await Promise.all([provider.Interaction.find(uid), provider.Interaction.find(uid)]);
  if (!old || !copy || typeof old.exp !== 'number') return undefined;
  const ttl = old.exp - epoch();
  if (ttl <= 0) return undefined;

  const returnTo = new URL(copy.returnTo);
  // (not a RegExp made of the uid: V8 compiles each new one to machine code, tens of µs per step)
  if (returnTo.pathname.endsWith(`/${uid}`)) returnTo.pathname = `${returnTo.pathname.slice(0, -uid.length)}${next}`;
  copy.uid = next;
  copy.returnTo = returnTo.href;
  await copy.save(ttl);
  await old.destroy();

  const interactionPath = (id: string) => `/interaction/${id}`;
  const resumePath = new URL(copy.returnTo).pathname;
  ctx.cookies.set(provider.cookieName('interaction'), null, { ...cookie, path: interactionPath(uid) });
  ctx.cookies.set(provider.cookieName('resume'), null, { ...cookie, path: resumePath.replace(next, uid) });
  ctx.cookies.set(provider.cookieName('interaction'), next, { ...cookie, path: interactionPath(next), maxAge: ttl * 1000 });
  ctx.cookies.set(provider.cookieName('resume'), next, { ...cookie, path: resumePath, maxAge: ttl * 1000 });
  return next;
}
