// oidc-provider's own keystore set-up (not part of its typed API): replaces the keystore
// and the published JWKS of the provider it is called on.
declare module 'oidc-provider/lib/helpers/initialize_keystore.js' {
  export default function initialize(this: import('oidc-provider').default, jwks: { keys: object[] }): void;
}
