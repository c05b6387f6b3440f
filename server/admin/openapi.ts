import { z } from 'zod';
import type { AdminSchemas } from '../manage/schemas.ts';

const json = (schema: z.ZodType) => z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' });

const error = {
  type: 'object',
  required: ['error', 'error_description'],
  properties: {
    error: { type: 'string', description: 'machine code: invalid_request, duplicate, not_found, unauthenticated, forbidden, csrf, ...' },
    error_description: { type: 'string' },
    issues: { type: 'array', items: { type: 'object', properties: { path: { type: 'string' }, message: { type: 'string' } } } },
  },
};

const user = {
  type: 'object',
  properties: {
    id: { type: 'string' }, username: { type: 'string' }, email: { type: ['string', 'null'] }, email_verified: { type: 'boolean', description: 'confirmed by its owner, or vouched for by an admin' }, roles: { type: 'array', items: { type: 'string' } },
    disabled: { type: 'boolean' }, totp_enrolled: { type: 'boolean' }, has_password: { type: 'boolean' },
    locked_until: { type: ['integer', 'null'], description: 'epoch seconds while a brute-force lockout lasts' },
    enrolment_required: { type: 'boolean', description: 'the user must set up a second factor at the next login' },
  },
};

const factor = {
  type: 'object',
  description: 'a TOTP or passkey: never its secret',
  properties: {
    id: { type: 'string' }, type: { enum: ['totp', 'passkey'] }, label: { type: 'string' },
    created: { type: 'string', format: 'date-time' }, last_used: { type: ['string', 'null'], format: 'date-time' },
  },
};

const identityProvider = {
  type: 'object',
  description: 'the client secret is write-only: never returned',
  properties: {
    name: { type: 'string' }, issuer: { type: 'string' }, client_id: { type: 'string' }, display_name: { type: 'string' },
    scopes: { type: 'array', items: { type: 'string' } },
    claim_mapping: { type: 'object', properties: { username: { type: 'string' }, email: { type: 'string' } } }, jit: { type: 'boolean' },
    allow_private_network: { type: 'boolean', description: 'may its addresses be loopback, private or link-local' },
    redirect_uri: { type: 'string', description: 'the one redirect URI to register at the provider' },
    used_by: { type: 'array', items: { type: 'string' }, description: 'clients whose chains name this provider' },
  },
};

const linkedIdentity = {
  type: 'object',
  properties: { idp: { type: 'string' }, issuer: { type: 'string' }, subject: { type: 'string' }, created: { type: 'string', format: 'date-time' } },
};

const samlIdp = {
  type: 'object',
  properties: {
    name: { type: 'string' }, issuer: { type: 'string' }, certificate_subject: { type: 'string' }, certificate_expires: { type: 'string', format: 'date-time' },
    used_by: { type: 'array', items: { type: 'string' }, description: 'clients that accept its assertions' },
  },
};

const totp = { type: 'object', properties: { secret: { type: 'string' }, uri: { type: 'string', description: 'otpauth:// URI for an authenticator app' } } };

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const body = (name: string) => ({ required: true, content: { 'application/json': { schema: ref(name) } } });
const ok = (description: string, schema: unknown) => ({ description, content: { 'application/json': { schema } } });
const refusals = {
  400: ok('invalid input: each issue names the field path and the reason', ref('Error')),
  401: ok('no console session and no bearer token', ref('Error')),
  403: ok('not an admin, token without the admin scope, or missing CSRF token', ref('Error')),
};
const param = (name: string) => ({ name, in: 'path', required: true, schema: { type: 'string' } });

/** The simulator's answer (server/flow/simulate.ts). */
const simulation = {
  type: 'object',
  properties: {
    steps: {
      type: 'array', items: {
        type: 'object', properties: {
          step: { type: 'integer' }, options: { type: 'array', items: { type: 'string' } },
          outcome: { enum: ['ask', 'satisfied', 'skip', 'unavailable'] }, reason: { type: 'string' },
          usable: { type: 'array', items: { type: 'string' } }, by: { type: 'string' }, enrol: { type: 'array', items: { type: 'string' } },
        },
      },
    },
    complete: { type: 'boolean' }, acr: { type: 'string' }, amr: { type: 'array', items: { type: 'string' } },
    unmet: { type: 'string', description: 'set when an essential acr cannot be reached' },
  },
};

/** The OpenAPI 3.1 description of /admin/api, built from the same zod schemas that validate requests. */
export function openApiDocument(schemas: AdminSchemas, issuer: string) {
  // A client as shown: every field of the table (server/manage/client-fields.ts), plus what is derived.
  const client = {
    type: 'object',
    properties: {
      client_id: { type: 'string' }, public: { type: 'boolean' },
      ...Object.fromEntries(Object.entries(schemas.fields).map(([name, f]) => [name, json(f.schema)])),
      chain_steps: { type: 'array', items: { type: 'array', items: { type: 'string' } }, description: 'steps in order, each with its alternatives' },
      chain_description: { type: 'string', description: 'what a user will face, in plain words' },
    },
  };
  const userAction = (summary: string, kind: string, extra: Record<string, unknown> = {}) => ({
    post: { summary, operationId: kind, parameters: [param('id')], ...extra, responses: { 200: ok('done', { type: 'object', properties: { user } }), 404: ok('no such user', ref('Error')), ...refusals } },
  });
  return {
    openapi: '3.1.0',
    info: {
      title: 'stepgate admin API',
      version: '1',
      description: 'Clients, their authentication chains, identity providers, users and their linked identities, and the audit log. Authenticate with the console session '
        + '(cookie, plus the X-CSRF-Token header on POST/PATCH/DELETE) or with a bearer access token carrying the "admin" scope: '
        + 'a user token of an account with the admin role, or a client_credentials token of a client with admin_api enabled. '
        + 'Every change is one transaction with its audit record.',
    },
    servers: [{ url: `${issuer}/admin/api` }],
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'access token with the "admin" scope' },
        console: { type: 'apiKey', in: 'cookie', name: 'stepgate.admin' },
      },
      schemas: {
        Error: error, Client: client, User: user, Totp: totp,
        ClientCreate: json(schemas.clientCreate), ClientUpdate: json(schemas.clientUpdate), Simulate: json(schemas.simulate), Simulation: simulation,
        UserCreate: json(schemas.userCreate), UserUpdate: json(schemas.userUpdate), PasswordReset: json(schemas.passwordReset),
        KeyRotate: json(schemas.keyRotate), SamlIdp: samlIdp, SamlIdpCreate: json(schemas.samlIdpCreate),
        IdentityProvider: identityProvider, IdentityProviderCreate: json(schemas.idpCreate), IdentityProviderUpdate: json(schemas.idpUpdate),
        LinkedIdentity: linkedIdentity, IdentityLink: json(schemas.identityLink), Factor: factor, EnrolmentRequirement: json(schemas.enrolmentRequirement),
      },
    },
    security: [{ bearer: [] }, { console: [] }],
    paths: {
      '/authenticators': { get: { summary: 'authenticators a chain may name', operationId: 'listAuthenticators', responses: { 200: ok('the catalog', { type: 'array', items: { type: 'object' } }), ...refusals } } },
      '/clients': {
        get: { summary: 'list clients', operationId: 'listClients', responses: { 200: ok('clients', { type: 'array', items: ref('Client') }), ...refusals } },
        post: {
          summary: 'create a client', operationId: 'createClient', requestBody: body('ClientCreate'),
          responses: { 201: ok('created; client_secret is present once when generated', { type: 'object', properties: { client: ref('Client'), client_secret: { type: 'string' } } }), 409: ok('the client id is taken', ref('Error')), ...refusals },
        },
      },
      '/clients/{id}': {
        get: { summary: 'one client', operationId: 'getClient', parameters: [param('id')], responses: { 200: ok('the client', ref('Client')), 404: ok('no such client', ref('Error')), ...refusals } },
        patch: {
          summary: 'change a client (chain changes apply to the next login)', operationId: 'updateClient', parameters: [param('id')], requestBody: body('ClientUpdate'),
          responses: { 200: ok('changed', { type: 'object', properties: { client: ref('Client'), client_secret: { type: 'string' } } }), 404: ok('no such client', ref('Error')), ...refusals },
        },
        delete: { summary: 'delete a client', operationId: 'deleteClient', parameters: [param('id')], responses: { 204: { description: 'deleted' }, 404: ok('no such client', ref('Error')), 409: ok('the console client is protected', ref('Error')), ...refusals } },
      },
      '/clients/{id}/simulate': {
        post: {
          summary: 'what a user would face signing in at this client, and why (changes nothing)', operationId: 'simulateLogin', parameters: [param('id')], requestBody: body('Simulate'),
          responses: { 200: ok('each step with its outcome, then acr and amr', ref('Simulation')), 404: ok('no such client', ref('Error')), ...refusals },
        },
      },
      '/users': {
        get: {
          summary: 'list users', operationId: 'listUsers',
          parameters: Object.keys(schemas.userQuery.shape).map((name) => ({ name, in: 'query', required: false, schema: { type: 'string' } })),
          responses: { 200: ok('users', { type: 'array', items: ref('User') }), ...refusals } },
        post: {
          summary: 'create a user', operationId: 'createUser', requestBody: body('UserCreate'),
          responses: { 201: ok('created; totp is present once when enrolled', { type: 'object', properties: { user: ref('User'), totp: ref('Totp') } }), 409: ok('the username is taken', ref('Error')), ...refusals },
        },
      },
      '/users/{id}': {
        get: { summary: 'one user (by id or username)', operationId: 'getUser', parameters: [param('id')], responses: { 200: ok('the user', ref('User')), 404: ok('no such user', ref('Error')), ...refusals } },
        patch: {
          summary: 'change email (and whether it is verified) and roles (taking away "admin" ends its sessions and tokens)', operationId: 'updateUser', parameters: [param('id')], requestBody: body('UserUpdate'),
          responses: { 200: ok('changed', { type: 'object', properties: { user } }), 404: ok('no such user', ref('Error')), ...refusals },
        },
        delete: { summary: 'delete the account, its linked identities, sessions and tokens', operationId: 'deleteUser', parameters: [param('id')], responses: { 204: { description: 'deleted' }, 404: ok('no such user', ref('Error')), ...refusals } },
      },
      '/users/{id}/disable': userAction('disable the account: its sessions, grants and tokens end at once; applications signed in through those sessions get back-channel logout tokens', 'disableUser'),
      '/users/{id}/enable': userAction('enable the account again', 'enableUser'),
      '/users/{id}/sign-out': userAction('sign the account out everywhere: its sessions, grants and tokens end, applications get back-channel logout tokens; it may sign in again', 'signOutUser'),
      '/users/{id}/password': userAction('set a new password (its sessions and tokens end, applications get back-channel logout tokens); a generated one is returned once when none is given', 'resetPassword', { requestBody: body('PasswordReset') }),
      '/users/{id}/totp': userAction('replace the TOTP secret; the new secret is returned once', 'resetTotp'),
      '/users/{id}/recovery-codes': userAction('10 new single-use recovery codes for a helpdesk hand-over, returned once (the old set stops working)', 'generateRecoveryCodes'),
      '/users/{id}/unlock': userAction('clear brute-force lockouts', 'unlockUser'),
      '/users/{id}/require-enrolment': userAction('have the user set up a second factor at the next login (whatever the client\'s enrolment policy); {"required": false} withdraws it', 'requireEnrolment', {
        requestBody: body('EnrolmentRequirement'),
      }),
      '/users/{id}/factors': {
        get: {
          summary: "the user's second factors (never their secrets) and how many recovery codes are left", operationId: 'listFactors', parameters: [param('id')],
          responses: { 200: ok('factors', { type: 'object', properties: { factors: { type: 'array', items: ref('Factor') }, recovery_codes_left: { type: 'integer' } } }), 404: ok('no such user', ref('Error')), ...refusals },
        },
      },
      '/users/{id}/factors/{factorId}': {
        delete: {
          summary: 'remove a TOTP or passkey (the user is told by mail); with the last one the recovery codes go too', operationId: 'removeFactor', parameters: [param('id'), param('factorId')],
          responses: { 200: ok('removed', { type: 'object', properties: { user, removed: ref('Factor'), recovery_codes_removed: { type: 'integer' } } }), 404: ok('no such user or factor', ref('Error')), ...refusals },
        },
      },
      '/users/{id}/identities': {
        get: { summary: "the user's linked external identities", operationId: 'listIdentities', parameters: [param('id')], responses: { 200: ok('identities', { type: 'array', items: ref('LinkedIdentity') }), 404: ok('no such user', ref('Error')), ...refusals } },
        post: {
          summary: "link an external identity (the provider's subject, at its current issuer)", operationId: 'linkIdentity', parameters: [param('id')], requestBody: body('IdentityLink'),
          responses: {
            201: ok('linked', { type: 'object', properties: { identity: ref('LinkedIdentity') } }), 200: ok('it was linked to this user already', { type: 'object', properties: { identity: ref('LinkedIdentity') } }),
            404: ok('no such user', ref('Error')), 409: ok('the identity is linked to another user', ref('Error')), ...refusals,
          },
        },
      },
      '/users/{id}/identities/{idp}/{subject}': {
        delete: { summary: 'unlink an external identity', operationId: 'unlinkIdentity', parameters: [param('id'), param('idp'), param('subject')], responses: { 204: { description: 'unlinked' }, 404: ok('no such user or linked identity', ref('Error')), ...refusals } },
      },
      '/identity-providers': {
        get: { summary: 'list identity providers', operationId: 'listIdentityProviders', responses: { 200: ok('identity providers', { type: 'array', items: ref('IdentityProvider') }), ...refusals } },
        post: {
          summary: 'add an upstream OpenID Connect provider a chain can name (from the next request on)', operationId: 'createIdentityProvider', requestBody: body('IdentityProviderCreate'),
          responses: { 201: ok('created', ref('IdentityProvider')), 409: ok('the name is taken (by a provider or an authenticator)', ref('Error')), ...refusals },
        },
      },
      '/identity-providers/{name}': {
        get: { summary: 'one identity provider', operationId: 'getIdentityProvider', parameters: [param('name')], responses: { 200: ok('the provider', ref('IdentityProvider')), 404: ok('no such provider', ref('Error')), ...refusals } },
        patch: {
          summary: 'change a provider (anything but its name; a new client secret optional)', operationId: 'updateIdentityProvider', parameters: [param('name')], requestBody: body('IdentityProviderUpdate'),
          responses: { 200: ok('changed', ref('IdentityProvider')), 404: ok('no such provider', ref('Error')), ...refusals },
        },
        delete: { summary: 'remove a provider (its linked identities stay, and return if it is added again)', operationId: 'deleteIdentityProvider', parameters: [param('name')], responses: { 204: { description: 'deleted' }, 404: ok('no such provider', ref('Error')), 409: ok("a client's chain names it", ref('Error')), ...refusals } },
      },
      '/saml-idps': {
        get: { summary: 'list trusted SAML IdPs', operationId: 'listSamlIdps', responses: { 200: ok('SAML IdPs', { type: 'array', items: ref('SamlIdp') }), ...refusals } },
        post: {
          summary: 'trust a SAML IdP\'s signed assertions (saml2-bearer grant; clients accept it through saml_idps)', operationId: 'createSamlIdp', requestBody: body('SamlIdpCreate'),
          responses: { 201: ok('created', ref('SamlIdp')), 409: ok('the name or issuer is taken', ref('Error')), ...refusals },
        },
      },
      '/saml-idps/{name}': {
        get: { summary: 'one SAML IdP', operationId: 'getSamlIdp', parameters: [param('name')], responses: { 200: ok('the IdP', ref('SamlIdp')), 404: ok('no such IdP', ref('Error')), ...refusals } },
        delete: { summary: 'stop trusting a SAML IdP', operationId: 'deleteSamlIdp', parameters: [param('name')], responses: { 204: { description: 'deleted' }, 404: ok('no such IdP', ref('Error')), 409: ok('a client accepts it', ref('Error')), ...refusals } },
      },
      '/keys': {
        get: { summary: 'signing keys: the newest per algorithm signs, older ones stay published until retired', operationId: 'listKeys', responses: { 200: ok('keys', { type: 'array', items: { type: 'object' } }), ...refusals } },
      },
      '/keys/rotate': {
        post: { summary: 'add a new signing key per algorithm (or one); every process signs with it within seconds', operationId: 'rotateKeys', requestBody: body('KeyRotate'), responses: { 201: ok('the new keys', { type: 'array', items: { type: 'object' } }), ...refusals } },
      },
      '/keys/{kid}': {
        delete: { summary: 'retire an old key (refused while it signs, or while tokens it signed may be valid)', operationId: 'retireKey', parameters: [param('kid')], responses: { 204: { description: 'retired' }, 404: ok('no such key', ref('Error')), 409: ok('it signs, or it is too early', ref('Error')), ...refusals } },
      },
      '/overview': {
        get: { summary: 'counts of clients and users, the newest sign-ins and failures', operationId: 'getOverview', responses: { 200: ok('the overview', { type: 'object' }), ...refusals } },
      },
      '/audit': {
        get: {
          summary: 'audit events, newest first', operationId: 'listAudit',
          parameters: Object.keys(schemas.auditQuery.shape).map((name) => ({ name, in: 'query', required: false, schema: { type: 'string' } })),
          responses: { 200: ok('events', { type: 'object', properties: { events: { type: 'array', items: { type: 'object' } }, next_before: { type: ['integer', 'null'] } } }), ...refusals },
        },
      },
    },
  };
}
