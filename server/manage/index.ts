import type { Services } from '../services.ts';
import type { NotifyLogout } from '../storage/revoke-account.ts';
import { adminSchemas, type AdminSchemas } from './schemas.ts';
import { Changes } from './changes.ts';
import { ManageClients } from './clients.ts';
import { ManageUsers } from './users.ts';
import { ManageIdps } from './idps.ts';
import { ManageSamlIdps } from './saml-idps.ts';
import { ManageAudit } from './audit.ts';
import { ManageKeys } from './keys.ts';
import { ManageOverview } from './overview.ts';

export { ManageError, type Actor } from './errors.ts';
export { ADMIN_CLIENT_ID } from './clients.ts';

/**
 * What the management service works with: the services, and how to tell relying parties
 * that an account's sessions were ended (back-channel logout). Each door supplies the
 * latter: the server its oidc-provider, the CLI one built from storage (server/cli/index.ts).
 */
export type ManageServices = Services & { notifyLogout: NotifyLogout };

/**
 * Every change an admin can make (DESIGN.md §4), one noun per module. The CLI, the admin
 * API and the console are adapters over this: same validation (`schemas`), same rules,
 * each change in one transaction with its audit record. server/manage/operations.ts
 * lists the operations and the door each is reached through.
 */
export class Manage {
  readonly schemas: AdminSchemas;
  readonly clients: ManageClients;
  readonly users: ManageUsers;
  readonly idps: ManageIdps;
  readonly samlIdps: ManageSamlIdps;
  readonly audit: ManageAudit;
  readonly keys: ManageKeys;
  readonly overview: ManageOverview;

  constructor(s: ManageServices) {
    this.schemas = adminSchemas(s.runner.catalog);
    const changes = new Changes(s.db, s.audit);
    this.clients = new ManageClients(s, this.schemas.fields, changes);
    this.users = new ManageUsers(s, changes);
    this.idps = new ManageIdps(s, changes);
    this.samlIdps = new ManageSamlIdps(s, changes);
    this.audit = new ManageAudit(s);
    this.keys = new ManageKeys(s, changes);
    this.overview = new ManageOverview(s);
  }
}
