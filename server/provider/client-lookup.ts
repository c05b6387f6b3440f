import type Provider from 'oidc-provider';
import type { ClientRecord, Clients } from '../storage/clients.ts';

/**
 * oidc-provider's `Client.find` for a stored client hashes the client's whole metadata
 * (JSON and SHA-256) on every lookup to find the Client it built for it: a tenth of a
 * client_credentials request's own CPU. Our clients cache (server/storage/clients.ts)
 * hands out the same record object until the client changes here or in another process,
 * so the Client built for a record serves as long as that record does; a changed client is
 * a new record, hence a new lookup through oidc-provider and a new Client.
 */
export function findClientsByRecord(provider: Provider, clients: Clients): void {
  const Client = provider.Client as unknown as { find(id: string): Promise<unknown> };
  const find = Client.find.bind(Client);
  const built = new WeakMap<ClientRecord, unknown>();
  Client.find = async (id: string) => {
    const record = typeof id === 'string' && id.length ? await clients.get(id) : undefined;
    if (!record) return find(id);
    let client = built.get(record);
    if (!client) {
      client = await find(id);
      if (client) built.set(record, client);
    }
    return client;
  };
}
