import { X509Certificate } from 'node:crypto';
import type { Services } from '../services.ts';
import type { SamlIdp } from '../storage/saml-idps.ts';
import type { SamlIdpCreate } from './schemas.ts';
import { ManageError, duplicate, invalid, notFound, type Actor } from './errors.ts';
import type { Changes } from './changes.ts';

export type SamlIdpView = { name: string; issuer: string; certificate_subject: string; certificate_expires: string; used_by: string[] };

/** SAML identity providers trusted to sign assertions for the SAML2 bearer grant. */
export class ManageSamlIdps {
  readonly #s: Services;
  readonly #changes: Changes;

  constructor(s: Services, changes: Changes) {
    this.#s = s;
    this.#changes = changes;
  }

  #view(idp: SamlIdp, clients: { clientId: string; settings: { samlIdps?: string[] } }[]): SamlIdpView {
    const cert = new X509Certificate(idp.certificate);
    return {
      name: idp.name, issuer: idp.issuer, certificate_subject: cert.subject.replace(/\n/g, ', '), certificate_expires: new Date(cert.validTo).toISOString(),
      used_by: clients.filter((c) => c.settings.samlIdps?.includes(idp.name)).map((c) => c.clientId),
    };
  }

  async list(): Promise<SamlIdpView[]> {
    const clients = await this.#s.clients.list();
    return (await this.#s.samlIdps.list()).map((i) => this.#view(i, clients));
  }

  async get(name: string): Promise<SamlIdpView> {
    const idp = (await this.#s.samlIdps.list()).find((i) => i.name === name);
    if (!idp) throw notFound('SAML IdP', name);
    return this.#view(idp, await this.#s.clients.list());
  }

  async create(input: SamlIdpCreate, by: Actor): Promise<SamlIdpView> {
    try {
      new X509Certificate(input.certificate);
    } catch {
      throw invalid('certificate', 'is not a PEM certificate');
    }
    const idp = { name: input.name, issuer: input.issuer, certificate: input.certificate.trim() };
    return this.#changes.run(async (t) => {
      if (!(await this.#s.samlIdps.add(idp, t))) throw duplicate('name', `a SAML IdP named "${idp.name}" or with issuer "${idp.issuer}" already exists`);
      const view = this.#view(idp, []);
      await this.#changes.record(t, by, { kind: 'admin.saml_idp.created', subject: idp.name, details: { after: view } });
      return view;
    });
  }

  /** Refused while a client accepts its assertions. */
  async remove(name: string, by: Actor): Promise<void> {
    await this.#changes.run(async (t) => {
      const idp = (await this.#s.samlIdps.list(t)).find((i) => i.name === name);
      if (!idp) throw notFound('SAML IdP', name);
      const view = this.#view(idp, await this.#s.clients.list(t));
      if (view.used_by.length) throw new ManageError(409, 'in_use', `SAML IdP "${name}" is accepted by ${view.used_by.join(', ')}: remove it from their saml_idps first`);
      await this.#s.samlIdps.remove(name, t);
      await this.#changes.record(t, by, { kind: 'admin.saml_idp.deleted', subject: name, details: { before: view } });
    });
  }
}
