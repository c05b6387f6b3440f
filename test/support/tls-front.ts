import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Why a TLS front cannot be made here (no openssl), or undefined when it can. */
export function tlsFrontMissing(): string | undefined {
  return spawnSync('openssl', ['version'], { stdio: 'ignore' }).status === 0 ? undefined : 'openssl is not installed (apt-get install openssl)';
}

export type TlsFront = { port: number; origin: string; caFile: string; cert: string; close(): Promise<void> };

/**
 * A TLS-terminating reverse proxy on 127.0.0.1, as a deployment puts in front of stepgate:
 * a self-signed certificate for 127.0.0.1 (made with openssl; `caFile` is what clients are
 * told to trust), each request passed to `targetPort` over plain HTTP with
 * X-Forwarded-Proto/-Host/-For (stepgate started with trustedProxies '1' believes them).
 */
export async function startTlsFront(targetPort: number, port: number): Promise<TlsFront> {
  const dir = mkdtempSync(join(tmpdir(), 'stepgate-tls-'));
  const [key, caFile] = [join(dir, 'key.pem'), join(dir, 'cert.pem')];
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', caFile,
    '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  // the certificate is public (Apache's workers, running as nobody, read it); the key is not
  chmodSync(dir, 0o755);
  chmodSync(caFile, 0o644);
  chmodSync(key, 0o600);
  const cert = readFileSync(caFile, 'utf8');
  const origin = `https://127.0.0.1:${port}`;
  const server = createServer({ key: readFileSync(key), cert }, (req, res) => {
    const upstream = request({
      host: '127.0.0.1', port: targetPort, method: req.method, path: req.url,
      headers: { ...req.headers, 'x-forwarded-proto': 'https', 'x-forwarded-host': `127.0.0.1:${port}`, 'x-forwarded-for': req.socket.remoteAddress ?? '127.0.0.1' },
    }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.writeHead(502).end());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { port, origin, caFile, cert, close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }) };
}
