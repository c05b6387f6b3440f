import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const APACHE = '/usr/sbin/apache2';
const MODULES = '/usr/lib/apache2/modules';

/** Why Apache with mod_auth_openidc cannot run here, or undefined when it can. */
export function apacheMissing(): string | undefined {
  if (!existsSync(APACHE)) return `${APACHE} is not installed (apt-get install apache2)`;
  if (!existsSync(`${MODULES}/mod_auth_openidc.so`)) return 'mod_auth_openidc is not installed (apt-get install libapache2-mod-auth-openidc)';
  if (process.getuid?.() !== 0) return 'Apache is started as root (it then runs as nobody), and this test is not root';
  return undefined;
}

/**
 * `oidc`: the mod_auth_openidc directives (README.md's snippet, addresses filled in);
 * `caFile`: the certificate mod_auth_openidc trusts for stepgate's TLS (self-signed in tests).
 */
export type ApacheOptions = { port: number; oidc: string; caFile: string };

/**
 * An Apache 2.4 with mod_auth_openidc as a relying party of stepgate, from a config file
 * written here: the server around it (modules, port, files) and the given mod_auth_openidc
 * directives, which protect /protected/. The protected "application" echoes the claims
 * mod_auth_openidc passes it as response headers (mod_headers).
 */
export async function startApache(options: ApacheOptions): Promise<{ base: string; stop(): Promise<void>; errorLog(): string }> {
  const dir = mkdtempSync(join(tmpdir(), 'stepgate-apache-'));
  const www = join(dir, 'www');
  mkdirSync(join(www, 'protected'), { recursive: true });
  writeFileSync(join(www, 'protected', 'index.html'), '<!doctype html><title>app</title><h1 id="app">protected application</h1>\n');
  writeFileSync(join(www, 'bye.html'), '<!doctype html><title>bye</title><h1 id="bye">signed out of the application</h1>\n');
  for (const d of [dir, www, join(www, 'protected')]) chmodSync(d, 0o755);
  const base = `http://127.0.0.1:${options.port}`;
  const conf = join(dir, 'httpd.conf');
  writeFileSync(conf, `
ServerRoot ${dir}
ServerName 127.0.0.1
Listen 127.0.0.1:${options.port}
PidFile ${dir}/httpd.pid
ErrorLog ${dir}/error.log
LogLevel warn auth_openidc:info
User nobody
Group nogroup
LoadModule mpm_event_module ${MODULES}/mod_mpm_event.so
LoadModule authn_core_module ${MODULES}/mod_authn_core.so
LoadModule authz_core_module ${MODULES}/mod_authz_core.so
LoadModule authz_user_module ${MODULES}/mod_authz_user.so
LoadModule headers_module ${MODULES}/mod_headers.so
LoadModule auth_openidc_module ${MODULES}/mod_auth_openidc.so
DocumentRoot ${www}
<Directory ${www}>
  Require all granted
</Directory>

OIDCCABundlePath ${options.caFile}
${options.oidc}
# the application: the claims as response headers, for the test to read
<Location /protected>
  Header set X-Claim-Sub "%{OIDC_CLAIM_sub}e"
  Header set X-Claim-Username "%{OIDC_CLAIM_preferred_username}e"
  Header set X-Claim-Amr "%{OIDC_CLAIM_amr}e"
  Header set X-Claim-Acr "%{OIDC_CLAIM_acr}e"
</Location>
`);
  const child: ChildProcess = spawn(APACHE, ['-f', conf, '-DFOREGROUND'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => { output += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { output += d.toString(); });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const errorLog = () => {
    try {
      return readFileSync(join(dir, 'error.log'), 'utf8');
    } catch {
      return '';
    }
  };
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`apache exited:\n${output}\n${errorLog()}`);
    if (await listening(options.port)) break;
    if (i > 100) throw new Error(`apache did not listen:\n${output}\n${errorLog()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    base,
    errorLog,
    async stop() {
      // by its PID: the foreground parent stops its workers
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
  });
}
