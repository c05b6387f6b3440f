/** The client every benchmark server knows (stepgate asks its users for consent). */
export const BENCH_CLIENT = { clientId: 'bench', secret: 'bench-secret-0123456789', redirectUri: 'http://127.0.0.1:9/cb' };
/** stepgate's first-party client (the operator's own application: no consent), for the second login scenario. */
export const FIRST_PARTY_CLIENT = { ...BENCH_CLIENT, clientId: 'bench-own' };
