import { z } from 'zod';
import { defaults, type Config } from './defaults.ts';
import { languages } from '../server/i18n/index.ts';
import { parseTrustedProxies } from './trusted-proxies.ts';

export type { Config };

/** A configuration value that cannot work; the message names the key and the reason. */
export class ConfigError extends Error {}

const seconds = z.number().int().positive();

const schema = z.object({
  port: z.number().int().min(0).max(65535),
  issuer: z.url({ protocol: /^https?$/ }).refine((u) => !u.endsWith('/'), 'must not end with a slash'),
  databaseUrl: z.string().regex(/^(sqlite:|postgres(ql)?:\/\/)/, 'must start with sqlite: or postgres://'),
  dataDir: z.string().min(1),
  production: z.boolean(),
  secretKeys: z.array(
    z.string()
      .refine((k) => Buffer.from(k, 'base64').length === 32, 'each key must be 32 bytes, base64-encoded (openssl rand -base64 32)')
      // A key typed by hand or padded with zeros is guessable; random 32 bytes almost always
      // have 25+ distinct values.
      .refine((k) => new Set(Buffer.from(k, 'base64')).size >= 16, 'a key looks weak (too few distinct bytes); generate one with openssl rand -base64 32'),
  ),
  trustedProxies: z.string().superRefine((value, ctx) => {
    try {
      parseTrustedProxies(value);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
    }
  }),
  demo: z.boolean(),
  auditRetentionDays: z.number().int().min(1),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
  defaultLanguage: z.string().refine((l) => languages.includes(l), `must be one of the languages in locales/ (${languages.join(', ')})`),
  brand: z.object({
    name: z.string().min(1).max(80),
    logoUrl: z.union([z.literal(''), z.url({ protocol: /^https$/ })]),
  }),
  ttl: z.object({
    accessToken: seconds, clientCredentials: seconds, authorizationCode: seconds, idToken: seconds,
    refreshToken: seconds, interaction: seconds, session: seconds,
  }),
  ssoFreshness: seconds,
  federation: z.object({ timeoutSeconds: seconds, discoveryCacheSeconds: seconds }),
  argon2: z.object({ memoryCost: z.number().int().min(1024), timeCost: z.number().int().min(1), parallelism: z.number().int().min(1) }),
  admin: z.object({ chain: z.string().regex(/,/, 'needs at least two steps (a password and a second factor)'), sessionTtl: seconds }),
  factors: z.object({ enrolment: z.enum(['at-login', 'account-only', 'admin-only']), passkeyUserVerification: z.enum(['required', 'preferred']) }),
  mail: z.object({
    smtpUrl: z.union([z.literal(''), z.url({ protocol: /^smtps?$/ })]),
    from: z.string().min(3),
    brokerName: z.string().min(1),
    sendAttempts: z.number().int().min(1).max(10),
  }),
  lockout: z.object({ maxFailures: z.number().int().min(1), maxFailuresPerAddress: z.number().int().min(1), baseSeconds: seconds, maxSeconds: seconds, windowSeconds: seconds }),
});

const ENV_NAMES: Record<string, string> = {
  port: 'PORT', issuer: 'ISSUER', databaseUrl: 'DATABASE_URL', dataDir: 'STEPGATE_DATA_DIR',
  production: 'NODE_ENV', secretKeys: 'STEPGATE_SECRET_KEYS', trustedProxies: 'STEPGATE_TRUSTED_PROXIES',
  demo: 'STEPGATE_DEMO', logLevel: 'LOG_LEVEL', factors: 'STEPGATE_ENROLMENT / STEPGATE_PASSKEY_USER_VERIFICATION', mail: 'SMTP_URL / MAIL_FROM',
  auditRetentionDays: 'STEPGATE_AUDIT_RETENTION_DAYS', defaultLanguage: 'STEPGATE_LANGUAGE', brand: 'STEPGATE_BRAND_NAME / STEPGATE_BRAND_LOGO',
};

function flag(value: string | undefined, fallback: boolean): boolean {
  if (value === undefined || value === '') return fallback;
  return ['1', 'true', 'yes', 'on'].includes(value.toLowerCase());
}

/**
 * STEPGATE_TRUSTED_PROXIES, or the older STEPGATE_TRUST_PROXY=1 read as one hop: that is
 * what it meant behind the usual single reverse proxy, and one hop from the right is what
 * keeps a forged leftmost X-Forwarded-For out. Both set is refused (which one was meant?).
 */
function trustedProxiesFrom(env: NodeJS.ProcessEnv): string {
  const legacy = flag(env.STEPGATE_TRUST_PROXY, false);
  if (env.STEPGATE_TRUSTED_PROXIES && legacy) {
    throw new ConfigError('config trustedProxies (STEPGATE_TRUSTED_PROXIES): also STEPGATE_TRUST_PROXY is set; keep only STEPGATE_TRUSTED_PROXIES');
  }
  return env.STEPGATE_TRUSTED_PROXIES ?? (legacy ? '1' : defaults.trustedProxies);
}

/**
 * Defaults, overridden by the environment, then by `overrides` (tests), validated once.
 * Throws ConfigError naming the first bad key.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Config> = {}): Config {
  const port = env.PORT === undefined || env.PORT === '' ? defaults.port : Number(env.PORT);
  const production = env.NODE_ENV === 'production';
  const merged: Config = {
    ...defaults,
    port,
    issuer: env.ISSUER || `http://localhost:${port}`,
    databaseUrl: env.DATABASE_URL || defaults.databaseUrl,
    dataDir: env.STEPGATE_DATA_DIR || defaults.dataDir,
    production,
    secretKeys: (env.STEPGATE_SECRET_KEYS ?? '').split(',').map((k) => k.trim()).filter(Boolean),
    trustedProxies: trustedProxiesFrom(env),
    demo: flag(env.STEPGATE_DEMO, !production) && !production,
    logLevel: env.LOG_LEVEL || defaults.logLevel,
    factors: {
      enrolment: (env.STEPGATE_ENROLMENT || defaults.factors.enrolment) as Config['factors']['enrolment'],
      passkeyUserVerification: (env.STEPGATE_PASSKEY_USER_VERIFICATION || defaults.factors.passkeyUserVerification) as Config['factors']['passkeyUserVerification'],
    },
    mail: { ...defaults.mail, smtpUrl: env.SMTP_URL ?? '', from: env.MAIL_FROM || defaults.mail.from },
    auditRetentionDays: env.STEPGATE_AUDIT_RETENTION_DAYS ? Number(env.STEPGATE_AUDIT_RETENTION_DAYS) : defaults.auditRetentionDays,
    defaultLanguage: env.STEPGATE_LANGUAGE || defaults.defaultLanguage,
    brand: { name: env.STEPGATE_BRAND_NAME || defaults.brand.name, logoUrl: env.STEPGATE_BRAND_LOGO ?? defaults.brand.logoUrl },
    ...overrides,
  };
  const parsed = schema.safeParse(merged);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = issue.path.join('.');
    const envName = ENV_NAMES[String(issue.path[0])];
    throw new ConfigError(`config ${key}${envName ? ` (${envName})` : ''}: ${issue.message}`);
  }
  if (production && merged.secretKeys.length === 0) {
    throw new ConfigError('config secretKeys (STEPGATE_SECRET_KEYS): required in production; generate one with `openssl rand -base64 32`');
  }
  if (production && !merged.issuer.startsWith('https://')) {
    throw new ConfigError('config issuer (ISSUER): must be https:// in production');
  }
  return parsed.data as Config;
}
