import type { Services } from '../services.ts';
import type { IdentityProvider } from '../federation/identity-providers.ts';
import { DEFAULT_SCOPES } from '../federation/identity-providers.ts';
import { clientsNaming, inUseProblem, nameTakenProblem, resolveSource } from '../federation/idp-rules.ts';
import type { IdpCreate, IdpUpdate } from './schemas.ts';
import { ManageError, duplicate, invalid, notFound, type Actor } from './errors.ts';
import type { Changes } from './changes.ts';

/** An identity provider as every door shows it: never its client secret. */
export type IdpView = {
  name: string; issuer: string; client_id: string; display_name: string; scopes: string[];
  claim_mapping: { username?: string; email?: string }; jit: boolean;
  /** whether its amr counts, and how its method names map to RFC 8176 */
  trust_upstream_amr: boolean; amr_map: Record<string, string>;
  /** may the provider's addresses be loopback, private or link-local (on-premise) */
  allow_private_network: boolean;
  /** the one redirect URI to register at the provider */
  redirect_uri: string;
  /** clients whose chains name this provider */
  used_by: string[];
};

/** Upstream OpenID Connect providers a chain can name. */
export class ManageIdps {
  readonly #s: Services;
  readonly #changes: Changes;

  constructor(s: Services, changes: Changes) {
    this.#s = s;
    this.#changes = changes;
  }

  #view(idp: IdentityProvider, clients: { clientId: string; chain: string }[]): IdpView {
    return {
      name: idp.name, issuer: idp.issuer, client_id: idp.clientId, display_name: idp.displayName, scopes: idp.scopes,
      claim_mapping: idp.claimMapping, jit: idp.jit, trust_upstream_amr: idp.trustUpstreamAmr ?? false, amr_map: idp.amrMap ?? {}, allow_private_network: idp.allowPrivateNetwork, redirect_uri: this.#s.upstream.redirectUri(idp.name),
      used_by: clientsNaming(idp.name, clients),
    };
  }

  async list(): Promise<IdpView[]> {
    const clients = await this.#s.clients.list();
    return (await this.#s.idps.list()).map((idp) => this.#view(idp, clients));
  }

  async get(name: string): Promise<IdpView> {
    const idp = await this.#s.idps.get(name);
    if (!idp) throw notFound('identity provider', name);
    return this.#view(idp, await this.#s.clients.list());
  }

  /** Adds a provider; its client secret is sealed, and neither returned nor recorded. */
  async create(input: IdpCreate, by: Actor): Promise<IdpView> {
    const source = resolveSource(input);
    if ('problem' in source) throw invalid(source.path, source.problem);
    const taken = nameTakenProblem(input.name, this.#s.runner.catalog);
    if (taken) throw duplicate('name', taken);
    const idp = {
      name: input.name, issuer: source.issuer, clientId: input.client_id, clientSecret: input.client_secret,
      displayName: input.display_name ?? source.displayName ?? input.name, scopes: input.scopes ?? DEFAULT_SCOPES,
      claimMapping: input.claim_mapping, jit: input.jit, trustUpstreamAmr: input.trust_upstream_amr, amrMap: input.amr_map, allowPrivateNetwork: input.allow_private_network,
    };
    const view = await this.#changes.run(async (t) => {
      if (!(await this.#s.idps.add(idp, t))) throw duplicate('name', `identity provider "${input.name}" already exists`);
      await this.#s.idps.setAmrTrust(idp.name, idp.trustUpstreamAmr, idp.amrMap, t);
      const after = this.#view({ ...idp, updatedAt: Date.now() }, await this.#s.clients.list(t));
      await this.#changes.record(t, by, { kind: 'admin.idp.created', subject: idp.name, details: { after } });
      return after;
    });
    // Chains validated in this process can name it from now on.
    await this.#s.runner.refresh();
    return view;
  }

  /** Changes anything but the name; the client secret only when a new one is given. */
  async update(name: string, patch: IdpUpdate, by: Actor): Promise<IdpView> {
    const source = patch.preset !== undefined || patch.issuer !== undefined ? resolveSource(patch) : undefined;
    if (source && 'problem' in source) throw invalid(source.path, source.problem);
    return this.#changes.run(async (t) => {
      const before = await this.#s.idps.get(name, t);
      if (!before) throw notFound('identity provider', name);
      const after = {
        name, issuer: source?.issuer ?? before.issuer, clientId: patch.client_id ?? before.clientId,
        displayName: patch.display_name ?? before.displayName, scopes: patch.scopes ?? before.scopes,
        claimMapping: patch.claim_mapping ?? before.claimMapping, jit: patch.jit ?? before.jit,
        trustUpstreamAmr: patch.trust_upstream_amr ?? before.trustUpstreamAmr ?? false, amrMap: patch.amr_map ?? before.amrMap ?? {},
        allowPrivateNetwork: patch.allow_private_network ?? before.allowPrivateNetwork,
        ...(patch.client_secret !== undefined && { clientSecret: patch.client_secret }),
      };
      await this.#s.idps.update(after, t);
      await this.#s.idps.setAmrTrust(name, after.trustUpstreamAmr, after.amrMap, t);
      const clients = await this.#s.clients.list(t);
      const view = this.#view({ ...after, clientSecret: '', updatedAt: Date.now() }, clients);
      await this.#changes.record(t, by, {
        kind: 'admin.idp.updated', subject: name,
        details: { before: this.#view(before, clients), after: view, ...(patch.client_secret !== undefined && { secret_replaced: true }) },
      });
      return view;
    });
  }

  /** Refused while a client's chain names the provider. Linked identities stay: adding it again restores them. */
  async remove(name: string, by: Actor): Promise<void> {
    await this.#changes.run(async (t) => {
      const before = await this.#s.idps.get(name, t);
      if (!before) throw notFound('identity provider', name);
      const view = this.#view(before, await this.#s.clients.list(t));
      if (view.used_by.length > 0) throw new ManageError(409, 'in_use', inUseProblem(name, view.used_by));
      await this.#s.idps.remove(name, t);
      await this.#changes.record(t, by, { kind: 'admin.idp.deleted', subject: name, details: { before: view } });
    });
    await this.#s.runner.refresh();
  }
}
