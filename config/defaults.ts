/**
 * Every default stepgate runs with, in one place. Each key can be overridden by the
 * environment variable named next to it; `config/index.ts` validates the result once at
 * start-up and fails fast with the key and the reason.
 */
export const defaults = {
  /** PORT — TCP port to listen on. */
  port: 3000,
  /** ISSUER — public base URL of the broker; defaults to http://localhost:$PORT. */
  issuer: '',
  /** DATABASE_URL — `sqlite:<path>` or `postgres://user@host:port/db`. */
  databaseUrl: 'sqlite:./data/stepgate.sqlite',
  /** STEPGATE_DATA_DIR — where the development secret key and the SQLite file live. */
  dataDir: './data',
  /** NODE_ENV=production — refuses development conveniences (generated keys, demo data). */
  production: false,
  /**
   * STEPGATE_SECRET_KEYS — comma-separated base64 keys of 32 bytes. The first encrypts
   * (TOTP secrets, client secrets, signing keys) and signs cookies; the others still
   * decrypt, which is how a key is rotated. Required in production; in development a key
   * is generated once and kept in `<dataDir>/secret.key`.
   */
  secretKeys: [] as string[],
  /**
   * STEPGATE_TRUSTED_PROXIES — the proxies in front of stepgate: a hop count (`1`) or their
   * addresses / CIDR ranges (`10.0.0.0/8,::1`). The client address is read from the right of
   * X-Forwarded-For, skipping only trusted hops. Empty: no proxy, the TCP peer is the client.
   * The older STEPGATE_TRUST_PROXY=1 still means one hop.
   */
  trustedProxies: '',
  /** STEPGATE_DEMO=0|1 — seed a demo client and user on a new database (never in production). */
  demo: true,
  /** STEPGATE_AUDIT_RETENTION_DAYS — audit events older than this are swept (export them first: stepgate audit export). */
  auditRetentionDays: 400,
  /** LOG_LEVEL — pino level. */
  logLevel: 'info',
  /**
   * STEPGATE_LANGUAGE — the pages' language when neither the application (`ui_locales`)
   * nor the browser (Accept-Language) asks for one we have (a file in locales/).
   */
  defaultLanguage: 'en',
  /**
   * The broker's own name and logo, on pages of no particular application (start page,
   * account, errors). STEPGATE_BRAND_NAME; STEPGATE_BRAND_LOGO (an https URL, or empty).
   */
  brand: { name: 'stepgate', logoUrl: '' },
  /** Lifetimes in seconds. */
  ttl: {
    /** user access tokens (authorization code, password, refresh) — 3600 s as in WSO2 API Manager */
    accessToken: 3600,
    /** application access tokens (client_credentials) */
    clientCredentials: 3600,
    authorizationCode: 60,
    idToken: 3600,
    refreshToken: 14 * 24 * 3600,
    /** a login in progress */
    interaction: 15 * 60,
    /** the browser session at the broker */
    session: 8 * 3600,
  },
  /** How long a satisfied step counts for single sign-on at another client. */
  ssoFreshness: 8 * 3600,
  /** Upstream identity providers (federated steps). */
  federation: {
    /** seconds to wait for an upstream's discovery, token or JWKS response before the step fails with a clear page */
    timeoutSeconds: 10,
    /** seconds a discovered upstream configuration is reused before it is fetched again */
    discoveryCacheSeconds: 600,
  },
  /** argon2id parameters: OWASP's m=19 MiB, t=2, p=1. */
  argon2: { memoryCost: 19456, timeCost: 2, parallelism: 1 },
  /** The admin console (a client of this broker, `stepgate-admin`, created at first start). */
  admin: {
    /** the console's chain on first start: a password and a second factor at least; editable afterwards */
    chain: 'password,totp',
    /** how long a console session lasts, in seconds */
    sessionTtl: 8 * 3600,
  },
  /** Second factors (TOTP, passkeys, recovery codes). */
  factors: {
    /**
     * STEPGATE_ENROLMENT — who may set up a user's first second factor when a chain needs one:
     * `at-login` (the user, right there during sign-in), `account-only` (the user, on /account)
     * or `admin-only`. A client's `enrolment` setting overrides it for that client.
     */
    enrolment: 'at-login' as 'at-login' | 'account-only' | 'admin-only',
    /**
     * STEPGATE_PASSKEY_USER_VERIFICATION — `required` (PIN or biometrics with every passkey
     * use: a passkey alone is then multi-factor) or `preferred` (a touch may be enough).
     */
    passkeyUserVerification: 'required' as 'required' | 'preferred',
  },
  /** Outgoing mail (verification links, email codes, password resets, security notices). */
  mail: {
    /**
     * SMTP_URL — e.g. smtp://user:pass@mail.example:587 (STARTTLS when the server offers it)
     * or smtps://user:pass@mail.example:465 (implicit TLS). Empty outside production: mails
     * go to <dataDir>/mail/*.eml and /dev/mail. Empty in production: mail features are off.
     */
    smtpUrl: '',
    /** MAIL_FROM — the sender address. */
    from: 'stepgate <no-reply@localhost>',
    /** the broker's name as mails show it */
    brokerName: 'stepgate',
    /** attempts per mail before it is given up (logged), 1 s apart doubling */
    sendAttempts: 3,
  },
  /** Brute-force protection, per factor, per account and per client address. */
  lockout: {
    /** failures allowed per account before a temporary lockout */
    maxFailures: 5,
    /** failures allowed per client address (many users may share one address) */
    maxFailuresPerAddress: 50,
    /** first lockout length; doubles with each further lockout up to maxSeconds */
    baseSeconds: 60,
    maxSeconds: 3600,
    /** failures older than this are forgotten */
    windowSeconds: 900,
  },
};

export type Config = typeof defaults;
