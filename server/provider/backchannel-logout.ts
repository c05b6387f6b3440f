import type Provider from 'oidc-provider';
import type { EndedSignIn, NotifyLogout } from '../storage/revoke-account.ts';

/** oidc-provider's Client, with the method its type definitions leave out */
type BackchannelClient = { clientId: string; backchannelLogoutUri?: string; backchannelLogout(sub: string, sid: string): Promise<void> };

/**
 * Back-channel logout for sessions ended outside /logout (an admin disabling or deleting an
 * account or taking its admin role, a password reset, "sign out other browsers"): each
 * client that registered a back-channel logout URI gets a logout token for its sign-in,
 * signed and POSTed by oidc-provider exactly as at /logout (same keys, same claims, same
 * outbound policy), in parallel. The outcome of each delivery is emitted as oidc-provider's
 * own `backchannel.success` / `backchannel.error` events (logged by server/provider/logout.ts).
 */
export function backchannelLogout(provider: Provider): NotifyLogout {
  return async (accountId: string, ended: EndedSignIn[]) => {
    let notified = 0;
    let failed = 0;
    await Promise.all(ended.map(async ({ clientId, sid }) => {
      const client = await provider.Client.find(clientId).catch(() => undefined) as BackchannelClient | undefined;
      if (!client?.backchannelLogoutUri) return;
      try {
        await client.backchannelLogout(accountId, sid);
        notified++;
        provider.emit('backchannel.success', undefined, client, accountId, sid);
      } catch (err) {
        // the application did not take it; the account's sessions are ended all the same
        failed++;
        provider.emit('backchannel.error', undefined, err, client, accountId, sid);
      }
    }));
    return { notified, failed };
  };
}
