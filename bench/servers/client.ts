/** The one client every benchmark server knows. */
export const BENCH_CLIENT = { clientId: 'bench', secret: 'bench-secret-0123456789', redirectUri: 'http://127.0.0.1:9/cb' };
