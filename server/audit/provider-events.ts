import Provider, { type KoaContextWithOIDC } from 'oidc-provider';
import type { Audit, AuditEvent } from './index.ts';

type Token = { clientId?: string; accountId?: string; scope?: string };

/**
 * Authentication events oidc-provider emits, into the audit log. Model events carry no
 * request, so the address comes from the request context oidc-provider keeps.
 */
export function auditProviderEvents(provider: Provider, audit: Audit): void {
  const note = (event: AuditEvent) => {
    const ctx = Provider.ctx as { ip?: string } | undefined;
    audit.note({ address: ctx?.ip ?? null, ...event });
  };
  const revoked = (type: string) => (token: Token) => {
    note({ kind: 'auth.token.revoked', clientId: token.clientId, subject: token.accountId, details: { type } });
  };
  provider.on('authorization_code.saved', (code) => {
    note({ kind: 'auth.code.issued', clientId: code.clientId, subject: code.accountId, details: { scope: code.scope } });
  });
  provider.on('grant.success', (ctx: KoaContextWithOIDC) => {
    const account = ctx.oidc.entities.Account as { accountId?: string } | undefined;
    note({ kind: 'auth.token.issued', clientId: ctx.oidc.client?.clientId, subject: account?.accountId, details: { grant_type: String(ctx.oidc.params?.grant_type ?? '') } });
  });
  provider.on('grant.revoked', (ctx: KoaContextWithOIDC) => {
    note({ kind: 'auth.grant.revoked', clientId: ctx.oidc?.client?.clientId });
  });
  provider.on('access_token.destroyed', revoked('access_token'));
  provider.on('refresh_token.destroyed', revoked('refresh_token'));
  provider.on('client_credentials.destroyed', revoked('client_credentials'));
}
