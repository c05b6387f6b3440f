/**
 * The custom grant types' names, apart from their handlers: the management service and the
 * CLI name them without loading oidc-provider and the SAML verifier (half the CLI's start-up).
 */
export const SAML2_BEARER_GRANT = 'urn:ietf:params:oauth:grant-type:saml2-bearer';
