/**
 * `Client#metadata()` of oidc-provider rebuilds its snake_case view of every property on
 * each call (our hooks asked for it up to three times per request). A Client object never
 * changes — oidc-provider makes a new one when the stored metadata changes — so its
 * metadata is computed once per object.
 */
type ClientLike = { metadata(): Record<string, unknown> };

const computed = new WeakMap<ClientLike, Record<string, unknown>>();

export function metadataOf(client: ClientLike): Record<string, unknown> {
  let metadata = computed.get(client);
  if (!metadata) {
    metadata = client.metadata();
    computed.set(client, metadata);
  }
  return metadata;
}
