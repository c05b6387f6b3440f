/**
 * Every management operation and the door it is reached through: the CLI command, the
 * admin API route (under /admin/api) and the console route (under /admin). The parity
 * test (test/manage/parity.test.ts) checks each entry against the CLI's commands and the
 * routers, and that every method of the service is listed; the README's table is this one.
 */
export type Operation = { manage: string; what: string; cli: string; api: string; console: string };

export const OPERATIONS: Operation[] = [
  { manage: 'clients.list', what: 'list clients', cli: 'client list', api: 'GET /clients', console: 'GET /clients' },
  { manage: 'clients.get', what: 'show a client', cli: 'client show', api: 'GET /clients/:id', console: 'GET /clients/:id' },
  { manage: 'clients.create', what: 'create a client (every field)', cli: 'client add', api: 'POST /clients', console: 'POST /clients/new' },
  { manage: 'clients.update', what: 'change a client (every field)', cli: 'client update', api: 'PATCH /clients/:id', console: 'POST /clients/:id/edit' },
  { manage: 'clients.update', what: 'change a chain', cli: 'client chain', api: 'PATCH /clients/:id', console: 'POST /clients/:id/chain' },
  { manage: 'clients.update', what: 'issue a new client secret', cli: 'client secret', api: 'PATCH /clients/:id', console: 'POST /clients/:id/secret' },
  { manage: 'clients.simulate', what: 'simulate a login: what a user will face, and why', cli: 'simulate', api: 'POST /clients/:id/simulate', console: 'POST /clients/:id/simulate' },
  { manage: 'clients.remove', what: 'delete a client', cli: 'client remove', api: 'DELETE /clients/:id', console: 'POST /clients/:id/delete' },
  { manage: 'users.list', what: 'list users (search, role, disabled)', cli: 'user list', api: 'GET /users', console: 'GET /users' },
  { manage: 'users.get', what: 'show a user', cli: 'user show', api: 'GET /users/:id', console: 'GET /users/:id' },
  { manage: 'users.create', what: 'create a user', cli: 'user add', api: 'POST /users', console: 'POST /users' },
  { manage: 'users.update', what: 'change email (and whether it is verified) and roles', cli: 'user update', api: 'PATCH /users/:id', console: 'POST /users/:id/edit' },
  { manage: 'users.setDisabled', what: 'disable a user (ends its sessions and tokens)', cli: 'user disable', api: 'POST /users/:id/disable', console: 'POST /users/:id/disable' },
  { manage: 'users.setDisabled', what: 'enable a user', cli: 'user enable', api: 'POST /users/:id/enable', console: 'POST /users/:id/enable' },
  { manage: 'users.signOut', what: 'sign a user out everywhere (ends its sessions and tokens, tells the applications)', cli: 'user sign-out', api: 'POST /users/:id/sign-out', console: 'POST /users/:id/sign-out' },
  { manage: 'users.remove', what: 'delete a user', cli: 'user delete', api: 'DELETE /users/:id', console: 'POST /users/:id/delete' },
  { manage: 'users.resetPassword', what: 'reset a password (ends its sessions and tokens)', cli: 'user password', api: 'POST /users/:id/password', console: 'POST /users/:id/password' },
  { manage: 'users.generateRecoveryCodes', what: 'new recovery codes for a helpdesk hand-over (the old set stops working)', cli: 'recovery generate', api: 'POST /users/:id/recovery-codes', console: 'POST /users/:id/recovery-codes' },
  { manage: 'users.resetTotp', what: 'enrol or replace TOTP', cli: 'user totp', api: 'POST /users/:id/totp', console: 'POST /users/:id/totp' },
  { manage: 'users.factors', what: "list a user's second factors (never their secrets)", cli: 'user factors', api: 'GET /users/:id/factors', console: 'GET /users/:id' },
  { manage: 'users.removeFactor', what: 'remove a TOTP or passkey (the last one takes the recovery codes with it)', cli: 'user factor-remove', api: 'DELETE /users/:id/factors/:factorId', console: 'POST /users/:id/factors/:factorId/remove' },
  { manage: 'users.requireEnrolment', what: 'require a second factor to be set up at the next login', cli: 'user require-enrolment', api: 'POST /users/:id/require-enrolment', console: 'POST /users/:id/require-enrolment' },
  { manage: 'users.unlock', what: 'clear lockouts', cli: 'user unlock', api: 'POST /users/:id/unlock', console: 'POST /users/:id/unlock' },
  { manage: 'users.identities', what: 'list linked identities', cli: 'user identities', api: 'GET /users/:id/identities', console: 'GET /users/:id' },
  { manage: 'users.link', what: 'link an external identity', cli: 'user link', api: 'POST /users/:id/identities', console: 'POST /users/:id/identities' },
  { manage: 'users.unlink', what: 'unlink an external identity', cli: 'user unlink', api: 'DELETE /users/:id/identities/:idp/:subject', console: 'POST /users/:id/identities/unlink' },
  { manage: 'idps.list', what: 'list identity providers', cli: 'idp list', api: 'GET /identity-providers', console: 'GET /identity-providers' },
  { manage: 'idps.get', what: 'show an identity provider', cli: 'idp show', api: 'GET /identity-providers/:name', console: 'GET /identity-providers/:name' },
  { manage: 'idps.create', what: 'add an identity provider', cli: 'idp add', api: 'POST /identity-providers', console: 'POST /identity-providers/new' },
  { manage: 'idps.update', what: 'change an identity provider', cli: 'idp update', api: 'PATCH /identity-providers/:name', console: 'POST /identity-providers/:name/edit' },
  { manage: 'idps.remove', what: 'remove an identity provider', cli: 'idp remove', api: 'DELETE /identity-providers/:name', console: 'POST /identity-providers/:name/delete' },
  { manage: 'samlIdps.list', what: 'list trusted SAML IdPs', cli: 'saml-idp list', api: 'GET /saml-idps', console: 'GET /saml-idps' },
  { manage: 'samlIdps.get', what: 'show a SAML IdP', cli: 'saml-idp show', api: 'GET /saml-idps/:name', console: 'GET /saml-idps' },
  { manage: 'samlIdps.create', what: 'trust a SAML IdP', cli: 'saml-idp add', api: 'POST /saml-idps', console: 'POST /saml-idps' },
  { manage: 'samlIdps.remove', what: 'stop trusting a SAML IdP', cli: 'saml-idp remove', api: 'DELETE /saml-idps/:name', console: 'POST /saml-idps/:name/delete' },
  { manage: 'overview.get', what: 'overview: counts, recent sign-ins and failures', cli: 'overview', api: 'GET /overview', console: 'GET /' },
  { manage: 'audit.list', what: 'read the audit log', cli: 'audit', api: 'GET /audit', console: 'GET /audit' },
  { manage: 'keys.list', what: 'list signing keys', cli: 'keys list', api: 'GET /keys', console: 'GET /keys' },
  { manage: 'keys.rotate', what: 'rotate signing keys', cli: 'keys rotate', api: 'POST /keys/rotate', console: 'POST /keys/rotate' },
  { manage: 'keys.retire', what: 'retire an old signing key', cli: 'keys retire', api: 'DELETE /keys/:kid', console: 'POST /keys/:kid/retire' },
];
