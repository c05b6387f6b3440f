import type { Context } from 'koa';

/**
 * The "saved" line a console page shows after a change. The change redirects with
 * `?done=<key>` (post/redirect/get, so a reload does not repeat it) and the page it lands
 * on prints the key's fixed sentence: a link cannot make the console say anything else.
 * The console is English (issue 15 lets it stay so); the pages people meet are translated.
 */
export const NOTICES = {
  'client.saved': 'Client saved.',
  'client.deleted': 'Client deleted.',
  'chain.saved': 'Chain saved. The next sign-in at this client uses it.',
  'idp.saved': 'Identity provider saved.',
  'idp.deleted': 'Identity provider deleted.',
  'saml-idp.saved': 'SAML IdP added.',
  'saml-idp.deleted': 'SAML IdP removed.',
  'user.saved': 'User saved.',
  'user.deleted': 'User deleted.',
  'user.disabled': 'Account disabled. Its sessions and tokens have ended.',
  'user.enabled': 'Account enabled.',
  'user.unlocked': 'Failed attempts cleared: the account can sign in again.',
  'user.signed_out': 'Signed out everywhere: its sessions and tokens have ended, and the applications were told.',
  'user.enrolment_required': 'The user must set up a second factor at the next sign-in.',
  'user.enrolment_not_required': 'The user no longer has to set up a second factor.',
  'identity.linked': 'Identity linked.',
  'identity.unlinked': 'Identity unlinked.',
  'keys.rotated': 'New signing keys added; they sign from now on.',
  'key.retired': 'Key retired: it is no longer published.',
} as const;

export type NoticeKey = keyof typeof NOTICES;

/** Ends a change: 303 to `url` (which may end in a #fragment) carrying the notice for the page it lands on. */
export function doneTo(ctx: Context, url: string, notice: NoticeKey): void {
  const [path, fragment] = url.split('#');
  ctx.status = 303;
  ctx.redirect(`${path}${path!.includes('?') ? '&' : '?'}done=${notice}${fragment === undefined ? '' : `#${fragment}`}`);
}

/** The notice this request asks for, if it is one of ours. */
export function noticeOf(ctx: Context): string | undefined {
  const key = ctx.query.done;
  return typeof key === 'string' && Object.hasOwn(NOTICES, key) ? NOTICES[key as NoticeKey] : undefined;
}
