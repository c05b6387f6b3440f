import { createServer, type Server } from 'node:http';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';

export type LogoutReceiver = Awaited<ReturnType<typeof logoutReceiver>>;

/**
 * A relying party's back-channel logout endpoint, as an application would write it: it
 * verifies each logout token (OpenID Connect Back-Channel Logout 1.0 section 2.6) with jose
 * against the broker's /jwks and keeps the verified ones; anything else gets a 400 and is
 * kept in `rejected`. `url(clientId)` is the endpoint to register for a client.
 */
export async function logoutReceiver(issuer: string) {
  const jwks = createRemoteJWKSet(new URL(`${issuer}/jwks`));
  const received: { clientId: string; claims: JWTPayload }[] = [];
  const rejected: string[] = [];
  const server: Server = createServer((req, res) => {
    const clientId = new URL(req.url!, 'http://x').searchParams.get('client')!;
    let body = '';
    req.on('data', (c: Buffer) => { body += c.toString(); });
    req.on('end', () => {
      const token = new URLSearchParams(body).get('logout_token') ?? '';
      jwtVerify(token, jwks, { issuer, audience: clientId, typ: 'logout+jwt', maxTokenAge: 120 }).then(({ payload }) => {
        const events = payload.events as Record<string, unknown> | undefined;
        if (!events?.['http://schemas.openid.net/event/backchannel-logout'] || 'nonce' in payload || !payload.jti) throw new Error('not a logout token');
        received.push({ clientId, claims: payload });
        res.writeHead(200).end();
      }).catch((err: Error) => {
        rejected.push(err.message);
        res.writeHead(400).end();
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = (clientId: string) => `http://127.0.0.1:${(server.address() as { port: number }).port}/backchannel?client=${clientId}`;
  return { received, rejected, url, close: () => server.close() };
}
