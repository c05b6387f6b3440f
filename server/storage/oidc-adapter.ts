import { errors, type Adapter, type AdapterPayload } from 'oidc-provider';
import type { Database } from './database.ts';
import { currentRequest, deferWrite, deferredWrites, forgetReads, outsideRequests, readOnce, remember } from './request-reads.ts';
import { turnBatches } from './turn-batches.ts';
import type { Clients, ClientRecord } from './clients.ts';
import type { Keyring } from '../security/keyring.ts';
import digest from '../security/digest.ts';

/** A login's stored flow state (server/flow/state.ts), as read. */
export type FlowStateRow = { data: string; version: number; expires_at: number };

/** Where a request remembers its read of a login's flow state (read with its interaction, below). */
export const flowStateReadKey = (uid: string) => `flow_states ${uid}`;

/** Single-use artifacts: a second consume of one of these is a replay and fails the request. */
const SINGLE_USE = new Set(['AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest']);

const epoch = () => Math.floor(Date.now() / 1000);

/**
 * Introspection (without a token type hint) looks a token up as each of these at once;
 * the lookups of one id share one statement.
 */
const TOKEN_MODELS = new Set(['AccessToken', 'ClientCredentials', 'RefreshToken']);

const COLUMNS = ['model', 'id', 'payload', 'grantId', 'userCode', 'uid', 'accountId', 'expiresAt'];
/** Rows per statement at most (each distinct row count is one prepared statement). */
const BATCH = 32;
/** The n-th row's value names in a statement of several rows (made once, not per write). */
const ROW_NAMES = Array.from({ length: BATCH }, (_, n) => COLUMNS.map((c) => `${c}${n}`));
/** The upsert of n rows is UPSERTS[n - 1] (made once: its text is also the prepared statement's key). */
const UPSERTS = Array.from({ length: BATCH }, (_, i) => i + 1).map((rows) => `INSERT INTO oidc_payloads (model, id, payload, grant_id, user_code, uid, account_id, expires_at)
  VALUES ${Array.from({ length: rows }, (_, n) => `(${(rows === 1 ? COLUMNS : ROW_NAMES[n]!).map((c) => `:${c}`).join(', ')})`).join(', ')}
  ON CONFLICT (model, id) DO UPDATE SET payload = excluded.payload, grant_id = excluded.grant_id,
    user_code = excluded.user_code, uid = excluded.uid, account_id = excluded.account_id, expires_at = excluded.expires_at`);

/**
 * A new row takes a removed row's place: one statement for a removal and a save. Every
 * column is written, so the two need not be of one model (the interaction removed at the
 * end of a login becomes its authorization code).
 */
const MOVE = `UPDATE oidc_payloads SET model = :model, id = :id, payload = :payload, grant_id = :grantId, user_code = :userCode, uid = :uid,
  account_id = :accountId, expires_at = :expiresAt, consumed_at = NULL WHERE model = :fromModel AND id = :from`;
const REMOVE = 'DELETE FROM oidc_payloads WHERE model = :model AND id = :id';
/** Removals that may wait (within a request) for a save to take their row's place: a login's interaction and session, each replaced by a new one. */
const REPLACED = new Set(['Interaction', 'Session']);
/**
 * Whether a statement could see a row of `model`: it names the model (a literal, or the
 * :model value), or it picks rows of any model (by account, by grant, by expiry). A
 * request's removal waits past statements that cannot (a look-up of the grant between the
 * removal of a login's interaction and the save of its code).
 */
const sees = (model: string) => (sql: string, values: Record<string, unknown>) =>
  sql.includes(`'${model}'`) || values.model === model || !/\bmodel\b/.test(sql);

/**
 * Rows upserted are written together by one multi-row statement: at the end of their
 * event-loop turn, or sooner when a request that saved one needs them (its next statement
 * on the table, its end): then with every row saved in the turn so far, other requests'
 * included. A request's rows (an access token and its refresh token) so share a statement.
 * (Writing them at the request's end rather than waiting for the turn's: client_credentials
 * on SQLite 0.382 → 0.361 and 0.276 → 0.257 ms of CPU per request, medians of two A/B runs
 * of 6 and 8 alternating rounds, at 1 statement per request instead of 0.2.) A row upserted
 * twice before it is written is written once, with its last payload, as two statements in
 * turn would have left it (and one statement cannot touch a row twice).
 *
 * Interactions and sessions are replaced rather than changed: a login's interaction gets
 * a new id after each step (rotateInteraction) and another after the login for consent, and
 * its session a new id at login (oidc-provider's resume). Within a request their removal
 * waits too (past the request's statements that cannot see the row, to its end at the
 * latest), and a removal and a save in one request (of the same model first, else of any)
 * are one UPDATE that turns the old row into the new one (when the old row is gone
 * already the new one is inserted; when the new id is taken, the two are made one after
 * the other).
 *
 * Outside a request a caller is told once its row is written (and, SQLite, committed).
 * Within one it is told at once, so that rows saved one after another (an access token,
 * then its refresh token) share the statement too; the request's next statement on
 * oidc_payloads waits for the write, and so does its answer, which fails if the write does
 * (server/storage/request-reads.ts, `deferWrite`).
 */
function batchedWrites(db: Database) {
  type Done = PromiseWithResolvers<void>;
  /** `request`: the HTTP request that asked (a removal and a save are made one only within one request) */
  type Removal = { model: string; id: string; done: Done; request: object; by?: Pending };
  /** `replaces`: the removal this row takes the place of */
  type Pending = { values: Record<string, unknown>; done: Done; request: object | undefined; replaces?: Removal };
  type Turn = { rows: Map<string, Pending>; removals: Removal[] };
  let turn: Turn | undefined;
  const settle = (dones: Done[], err?: unknown) => { for (const d of dones) if (err === undefined) d.resolve(); else d.reject(err); };

  const upsertRows = async (rows: Pending[]) => {
    const values: Record<string, unknown> = {};
    if (rows.length === 1) Object.assign(values, rows[0]!.values);
    else rows.forEach((row, n) => { ROW_NAMES[n]!.forEach((name, i) => { values[name] = row.values[COLUMNS[i]!]; }); });
    await db.change(UPSERTS[rows.length - 1]!, values);
  };
  const write = async (dones: Done[], work: () => Promise<unknown>) => {
    try {
      await work();
      settle(dones);
    } catch (err) {
      settle(dones, err);
    }
  };
  const move = async (row: Pending, removal: Removal) => {
    const from = { model: removal.model, id: removal.id };
    let moved: number;
    try {
      moved = await db.change(MOVE, { ...row.values, fromModel: removal.model, from: removal.id });
    } catch {
      // the new id is taken (or the UPDATE failed otherwise): one after the other
      await db.change(REMOVE, from);
      moved = 0;
    }
    if (moved === 0) await upsertRows([row]);
  };
  /**
   * Removals no save of their request took up by the end of their turn: held (without a
   * timer) until one does, or a statement that could see the row runs, or the request
   * ends (`deferredWrites`): on PostgreSQL a request's statements end its turns.
   */
  const held: Removal[] = [];
  // Written on behalf of several requests: outside all of them, so that (SQLite) the rows
  // are done only once committed (server/storage/statements.ts). `all`: a request needs
  // them made now, held removals too.
  const flush = (all = false) => outsideRequests(() => {
    const t = turn;
    turn = undefined;
    const removals = [...(t?.removals ?? []), ...(all ? held.splice(0) : [])];
    for (const removal of removals) {
      if (removal.by) void write([removal.done, removal.by.done], () => move(removal.by!, removal));
      else if (!all) held.push(removal);
      else void write([removal.done], () => db.change(REMOVE, { model: removal.model, id: removal.id }));
    }
    if (!t) return;
    const rows = [...t.rows.values()].filter((row) => !row.replaces);
    for (let i = 0; i < rows.length; i += BATCH) {
      const batch = rows.slice(i, i + BATCH);
      void write(batch.map((row) => row.done), () => upsertRows(batch));
    }
  });
  const open = (): Turn => {
    if (!turn) {
      turn = { rows: new Map(), removals: [] };
      setImmediate(flush);
    }
    return turn;
  };
  // SQLite runs its statements in order on one connection (server/storage/statements.ts):
  // written now, the row is seen by the request's next statement; PostgreSQL's pool may
  // run that one on another connection first, so it waits until the row is written.
  const deferred = (written: Promise<void>, model?: string) => deferWrite('oidc_payloads', written, (end) => {
    // PostgreSQL, at the request's end: its rows go with the turn's, in one statement with
    // those of the other requests of that turn (a round trip each cost more than the wait
    // for the turn's end), unless it removes a row: a removal no save takes up is held
    // past its turn (not written until a request needs it).
    if (end && db.dialect === 'postgres' && turn) {
      const request = currentRequest();
      if (![...held, ...turn.removals].some((r) => r.request === request)) return written;
    }
    flush(true);
    return db.dialect === 'postgres' ? written : undefined;
  }, model === undefined ? undefined : sees(model));

  return {
    upsert(values: Record<string, unknown>): Promise<void> {
      const t = open();
      const key = `${values.model} ${values.id}`;
      let row = t.rows.get(key);
      if (row) row.values = values;
      else {
        const request = currentRequest();
        row = { values, done: Promise.withResolvers<void>(), request };
        t.rows.set(key, row);
        const replaceable = (r: Removal) => r.request === request && !r.by;
        const candidates = [...t.removals, ...held];
        const removal = candidates.find((r) => replaceable(r) && r.model === values.model && r.id === values.id)
          ?? candidates.find((r) => replaceable(r) && r.model === values.model) ?? candidates.find(replaceable);
        if (removal && held.includes(removal)) {
          held.splice(held.indexOf(removal), 1);
          t.removals.push(removal);
        }
        if (removal) {
          removal.by = row;
          row.replaces = removal;
        }
      }
      const written = row.done.promise;
      return deferred(written) ? Promise.resolve() : written;
    },
    /** A removal of a REPLACED model within a request, told done at once; undefined when it must be made now. */
    remove(model: string, id: string): Promise<void> | undefined {
      if (!REPLACED.has(model)) return undefined;
      const done = Promise.withResolvers<void>();
      if (!deferred(done.promise, model)) return undefined;
      const t = open();
      const removal: Removal = { model, id, done, request: currentRequest()! };
      // a save of this very row earlier in the turn is undone: its removal follows it
      const saved = t.rows.get(`${model} ${id}`);
      if (saved) {
        t.rows.delete(`${model} ${id}`);
        if (saved.replaces) saved.replaces.by = undefined;
        void done.promise.then(() => saved.done.resolve(), (err) => saved.done.reject(err));
      } else {
        // the new row saved just before (rotateInteraction saves the copy, then removes the old one), else any new row of the request
        const waiting = [...t.rows.values()].filter((row) => row.request === removal.request && !row.replaces);
        const by = waiting.find((row) => row.values.model === model) ?? waiting[0];
        if (by) {
          removal.by = by;
          by.replaces = removal;
        }
      }
      t.removals.push(removal);
      return Promise.resolve();
    },
  };
}

type PayloadRow = { model?: string; payload: string; consumed_at: number | null; expires_at: number | null };
/** A code's or token's row read with its grant's (null columns when it has none, or it is gone). */
type WithGrant = PayloadRow & { grant_row_id: string | null; grant_payload: string | null; grant_expires_at: number | null };

/**
 * The grant of a code or token is read with it: oidc-provider looks the grant up next at
 * the token endpoint (code redemption, refresh), at introspection and at userinfo. Its
 * row is found by its grant_id column (a grant's is its own id), which the stored id, a
 * digest, cannot be computed from in SQL.
 */
const GRANT_JOIN = `LEFT JOIN oidc_payloads g ON g.model = 'Grant' AND g.grant_id = p.grant_id`;
const GRANT_COLUMNS = 'g.id AS grant_row_id, g.payload AS grant_payload, g.expires_at AS grant_expires_at';

/** The models read by id with their grant (GRANT_JOIN): codes and tokens. */
const WITH_GRANT = new Set(['AuthorizationCode', ...TOKEN_MODELS]);
/** PostgreSQL: the lookups by id of n codes or tokens (LOOKUPS[n - 1]) and the claims of n single-use rows (CLAIMS[n - 1]), each one statement. */
const LOOKUPS = Array.from({ length: BATCH }, (_, i) => `SELECT p.id, p.model, p.payload, p.consumed_at, p.expires_at, ${GRANT_COLUMNS}
  FROM oidc_payloads p ${GRANT_JOIN}
  WHERE p.model IN ('AuthorizationCode', 'AccessToken', 'ClientCredentials', 'RefreshToken')
    AND p.id IN (${Array.from({ length: i + 1 }, (_, n) => `:id${n}`).join(', ')})`);
const CONSUME = 'UPDATE oidc_payloads SET consumed_at = :now WHERE model = :model AND id = :id AND consumed_at IS NULL';
const CLAIMS = Array.from({ length: BATCH }, (_, i) => `UPDATE oidc_payloads SET consumed_at = :now
  WHERE consumed_at IS NULL AND (model, id) IN (${Array.from({ length: i + 1 }, (_, n) => `(:model${n}, :id${n})`).join(', ')})
  RETURNING model, id`);

/**
 * PostgreSQL: the lookups of codes and tokens by id and the consumes of single-use ones made
 * in one event-loop turn, by all requests, are one statement each (server/storage/turn-batches.ts):
 * a code redemption or refresh is a lookup, a consume and the new tokens' insert (written by
 * turn already, batchedWrites), three round trips one after another; the requests read from
 * the network together now share them. A consume is still single-use under concurrency:
 * the UPDATE claims each row at most once, and of two claims of one row in one turn only
 * the first is sent (the other lost the race, as it would have to a statement of its own).
 * Within a request, its own writes that such a statement would see are made first, as
 * before any statement (request-reads.ts, deferredWrites). SQLite runs each statement at
 * once on the process's own connection, where batching paid nothing.
 */
function postgresTurnBatches(db: Database) {
  const lookup = turnBatches<string, (WithGrant & { id: string; model: string })[]>(BATCH, [], 'shared', async (ids) => {
    const rows = await db.select<WithGrant & { id: string; model: string }>(LOOKUPS[ids.length - 1]!, Object.fromEntries(ids.map((id, n) => [`id${n}`, id])));
    const byId = new Map<string, (WithGrant & { id: string; model: string })[]>();
    for (const row of rows) byId.set(row.id, [...(byId.get(row.id) ?? []), row]);
    return byId;
  });
  const claim = turnBatches<string, number>(BATCH, 0, 'missing', async (keys) => {
    const values: Record<string, unknown> = { now: epoch() };
    keys.forEach((key, n) => {
      const [model, id] = key.split(' ');
      values[`model${n}`] = model;
      values[`id${n}`] = id;
    });
    const rows = await db.select<{ model: string; id: string }>(CLAIMS[keys.length - 1]!, values);
    return new Map(rows.map((row) => [`${row.model} ${row.id}`, 1]));
  });
  return {
    async lookup(id: string) {
      const due = deferredWrites(LOOKUPS[0]!, { id0: id });
      if (due) await due;
      return lookup(id);
    },
    /** 1 when this call consumed the row, 0 when it was consumed already (or is gone) */
    async consume(model: string, id: string) {
      const due = deferredWrites(CONSUME, { model, id });
      if (due) await due;
      return claim(`${model} ${id}`);
    },
  };
}

/**
 * A login's requests read the same Interaction and Session several times (our routes'
 * interactionDetails, the rotation's two copies, interactionResult, oidc-provider's own
 * resume), and a grant is read with the code or token that names it (GRANT_JOIN): within
 * one HTTP request each is read once (server/storage/request-reads.ts); later reads parse
 * the same stored row again (fresh objects), and this request's own writes replace it.
 */
const PER_REQUEST = new Set(['Interaction', 'Session', 'Grant']);
/** What a remembered read of `model` depends on: a write of that model forgets it. */
const readsOf = (model: string) => [`oidc_payloads ${model}`];

/** oidc-provider's view of one of our clients. */
export function clientMetadata(client: ClientRecord): AdapterPayload {
  return {
    client_id: client.clientId,
    ...(client.secret === null ? {} : { client_secret: client.secret }),
    token_endpoint_auth_method: client.settings.tokenEndpointAuthMethod ?? (client.secret === null ? 'none' : 'client_secret_basic'),
    ...(client.settings.jwks ? { jwks: client.settings.jwks } : {}),
    ...(client.settings.jwksUri ? { jwks_uri: client.settings.jwksUri } : {}),
    // logout (server/provider/logout.ts)
    ...(client.settings.backchannelLogoutUri ? {
      backchannel_logout_uri: client.settings.backchannelLogoutUri,
      backchannel_logout_session_required: client.settings.backchannelLogoutSessionRequired === true,
    } : {}),
    logout_ends_grants: client.settings.logoutEndsGrants === true,
    require_pushed_authorization_requests: client.settings.requirePushedAuthorizationRequests === true,
    dpop_bound_access_tokens: client.settings.dpopBoundAccessTokens === true,
    user_token_format: client.settings.userTokenFormat ?? 'opaque',
    client_name: client.settings.name ?? client.clientId,
    redirect_uris: client.redirectUris,
    post_logout_redirect_uris: client.settings.postLogoutRedirectUris ?? [],
    grant_types: client.grantTypes,
    response_types: client.grantTypes.includes('authorization_code') ? ['code'] : [],
    // token API settings (server/provider/token-lifetimes.ts)
    // the admin API's scope is an API scope of the clients an admin allowed to use it
    api_scopes: [...(client.settings.scopes ?? []), ...(client.settings.adminApi ? ['admin'] : [])],
    ...(client.settings.userTokenTtl === undefined ? {} : { user_token_ttl: client.settings.userTokenTtl }),
    ...(client.settings.appTokenTtl === undefined ? {} : { app_token_ttl: client.settings.appTokenTtl }),
    allow_non_expiring: client.settings.allowNonExpiring === true,
    app_token_format: client.settings.appTokenFormat ?? 'opaque',
    id_token_signed_response_alg: client.settings.idTokenSignedResponseAlg ?? 'RS256',
    ...(client.settings.logoUri === undefined ? {} : { logo_uri: client.settings.logoUri }),
    saml_idps: client.settings.samlIdps ?? [],
    first_party: client.settings.firstParty === true,
  };
}

/**
 * oidc-provider's storage on our database: one table for every model, rows keyed by
 * the SHA-256 of the model's id, so stored rows cannot be replayed as tokens, codes or
 * session cookies. The session id (needed to find a session by its uid) is sealed with
 * the keyring. Clients come from the clients table.
 */
export function createAdapter(db: Database, keyring: Keyring, clients: Clients) {
  /**
   * SQLite: token lookups by stored id made in one synchronous burst (introspection's
   * Promise.all) share the statement; a later lookup, even while that one is in flight,
   * reads afresh. (PostgreSQL shares them by turn: postgresTurnBatches.)
   */
  const tokenLookups = new Map<string, Promise<WithGrant[]>>();
  const tokenRows = (id: string) => {
    let rows = tokenLookups.get(id);
    if (!rows) {
      rows = db.select<WithGrant>(
        `SELECT p.model, p.payload, p.consumed_at, p.expires_at, ${GRANT_COLUMNS} FROM oidc_payloads p ${GRANT_JOIN}
         WHERE p.model IN ('AccessToken', 'ClientCredentials', 'RefreshToken') AND p.id = :id`, { id });
      tokenLookups.set(id, rows);
      queueMicrotask(() => tokenLookups.delete(id));
    }
    return rows;
  };

  /**
   * An interaction is read with its login's state (server/flow/state.ts), as every request
   * that reads the one goes on to read the other. The state is remembered for the request as
   * if read on its own (from the start of the read, so a write to flow_states meanwhile
   * forgets it); when the interaction is not found, the state is left to be read on its own.
   */
  const interactionWithFlow = (id: string, uid: string) => {
    const rows = db.select<PayloadRow & { flow_data: string | null; flow_version: number | null; flow_expires_at: number | null }>(
      `SELECT p.payload, p.consumed_at, p.expires_at, f.data AS flow_data, f.version AS flow_version, f.expires_at AS flow_expires_at
       FROM oidc_payloads p LEFT JOIN flow_states f ON f.uid = :uid
       WHERE p.model = 'Interaction' AND p.id = :id`, { id, uid });
    remember(['flow_states'], flowStateReadKey(uid), rows.then(([row]): FlowStateRow[] | undefined => {
      if (!row) return undefined;
      return row.flow_data === null ? [] : [{ data: row.flow_data, version: Number(row.flow_version), expires_at: Number(row.flow_expires_at) }];
    }, () => undefined));
    return rows;
  };

  /** Within a request, the grant read with a code or token is remembered as if looked up by its id (oidc-provider asks for it next). */
  const rememberGrant = (row: PayloadRow | undefined) => {
    const withGrant = row as Partial<WithGrant> | undefined;
    if (!withGrant?.grant_row_id) return;
    const grant: PayloadRow = { payload: withGrant.grant_payload!, consumed_at: null, expires_at: withGrant.grant_expires_at ?? null };
    remember(readsOf('Grant'), `Grant id ${withGrant.grant_row_id}`, grant);
  };

  class ClientAdapter implements Adapter {
    async find(id: string) {
      const client = await clients.get(id);
      return client && clientMetadata(client);
    }
    async upsert() { throw new Error('clients are managed with the stepgate CLI or admin API'); }
    async findByUid() { return undefined; }
    async findByUserCode() { return undefined; }
    async consume() {}
    async destroy() {}
    async revokeByGrantId() {}
  }

  const writes = batchedWrites(db);
  const batches = db.dialect === 'postgres' ? postgresTurnBatches(db) : undefined;

  class SqlAdapter implements Adapter {
    readonly #model: string;

    constructor(model: string) {
      this.#model = model;
    }

    /** Before a write: forget this model's reads in this request (`keep` what was just written). */
    #forget(keep?: { id: string; uid: string | null; row: PayloadRow }) {
      if (!PER_REQUEST.has(this.#model)) return;
      forgetReads(readsOf(this.#model)[0]!);
      if (keep) {
        remember(readsOf(this.#model), `${this.#model} id ${keep.id}`, keep.row);
        if (keep.uid) remember(readsOf(this.#model), `${this.#model} uid ${keep.uid}`, keep.row);
      }
    }

    async upsert(id: string, payload: AdapterPayload, expiresIn: number) {
      const stored: Record<string, unknown> = { ...payload };
      delete stored.jti;
      if (this.#model === 'Session') stored.sealedJti = keyring.encrypt(id, 'session');
      const row: PayloadRow = { payload: JSON.stringify(stored), consumed_at: null, expires_at: expiresIn ? epoch() + expiresIn : null };
      const storedId = digest(id);
      this.#forget();
      await writes.upsert({
        model: this.#model,
        id: storedId,
        payload: row.payload,
        // a Grant is its own grant, so revoking by grant id removes it with its tokens
        grantId: payload.grantId ?? (this.#model === 'Grant' ? id : null),
        userCode: payload.userCode ? digest(payload.userCode) : null,
        uid: payload.uid ?? null,
        // so that disabling an account ends its sessions and tokens (server/storage/revoke-account.ts)
        accountId: payload.accountId ?? null,
        expiresAt: row.expires_at,
      });
      this.#forget({ id: storedId, uid: payload.uid ?? null, row });
    }

    /** `interactionUid`: the interaction's own id, when finding one by id (its login's state is read with it) */
    async #findWhere(column: 'id' | 'uid' | 'user_code', value: string, interactionUid?: string): Promise<AdapterPayload | undefined> {
      const read = () => (column === 'id' && batches && WITH_GRANT.has(this.#model)
        ? batches.lookup(value).then((rows) => rows.filter((r) => r.model === this.#model))
        : column === 'id' && TOKEN_MODELS.has(this.#model)
        ? tokenRows(value).then((rows) => rows.filter((r) => r.model === this.#model))
        : column === 'id' && this.#model === 'AuthorizationCode' ? db.select<WithGrant>(
          `SELECT p.payload, p.consumed_at, p.expires_at, ${GRANT_COLUMNS} FROM oidc_payloads p ${GRANT_JOIN}
           WHERE p.model = 'AuthorizationCode' AND p.id = :value`, { value })
        : interactionUid !== undefined ? interactionWithFlow(value, interactionUid)
        : db.select<PayloadRow>(
          `SELECT payload, consumed_at, expires_at FROM oidc_payloads WHERE model = :model AND ${column} = :value`,
          { model: this.#model, value })).then(([first]) => first);
      const row = PER_REQUEST.has(this.#model) ? await readOnce(readsOf(this.#model), `${this.#model} ${column} ${value}`, read) : await read();
      rememberGrant(row);
      if (!row || (row.expires_at !== null && row.expires_at <= epoch())) return undefined;
      const payload = JSON.parse(row.payload) as AdapterPayload & { sealedJti?: string };
      if (row.consumed_at !== null) payload.consumed = row.consumed_at;
      return payload;
    }

    async find(id: string) {
      const payload = await this.#findWhere('id', digest(id), this.#model === 'Interaction' ? id : undefined);
      if (payload) {
        payload.jti = id;
        delete (payload as { sealedJti?: string }).sealedJti;
      }
      return payload;
    }

    async findByUserCode(userCode: string) {
      return this.#findWhere('user_code', digest(userCode));
    }

    async findByUid(uid: string) {
      const payload = await this.#findWhere('uid', uid) as (AdapterPayload & { sealedJti?: string }) | undefined;
      if (payload?.sealedJti) {
        payload.jti = keyring.decrypt(payload.sealedJti, 'session');
        delete payload.sealedJti;
      }
      return payload;
    }

    async consume(id: string) {
      this.#forget();
      const changed = batches
        ? await batches.consume(this.#model, digest(id))
        : await db.change(CONSUME, { now: epoch(), model: this.#model, id: digest(id) });
      if (changed === 0 && SINGLE_USE.has(this.#model)) {
        // Lost a race against another redemption of the same code or token: as after any
        // replay, everything issued from that grant is revoked (RFC 6749 section 4.1.2).
        const [row] = await db.select<{ grant_id: string | null }>(
          'SELECT grant_id FROM oidc_payloads WHERE model = :model AND id = :id', { model: this.#model, id: digest(id) });
        if (row?.grant_id) await this.revokeByGrantId(row.grant_id);
        throw new errors.InvalidGrant(`${this.#model === 'RefreshToken' ? 'refresh token' : 'grant'} already used`);
      }
    }

    async destroy(id: string) {
      this.#forget();
      const storedId = digest(id);
      await (writes.remove(this.#model, storedId) ?? db.change(REMOVE, { model: this.#model, id: storedId }));
    }

    async revokeByGrantId(grantId: string) {
      for (const model of PER_REQUEST) forgetReads(readsOf(model)[0]!);
      await db.change('DELETE FROM oidc_payloads WHERE grant_id = :grantId', { grantId });
    }
  }

  return class StepgateAdapter implements Adapter {
    readonly #impl: Adapter;
    constructor(model: string) {
      this.#impl = model === 'Client' ? new ClientAdapter() : new SqlAdapter(model);
    }
    upsert(id: string, payload: AdapterPayload, expiresIn: number) { return this.#impl.upsert(id, payload, expiresIn); }
    find(id: string) { return this.#impl.find(id); }
    findByUserCode(userCode: string) { return this.#impl.findByUserCode(userCode); }
    findByUid(uid: string) { return this.#impl.findByUid(uid); }
    consume(id: string) { return this.#impl.consume(id); }
    destroy(id: string) { return this.#impl.destroy(id); }
    revokeByGrantId(grantId: string) { return this.#impl.revokeByGrantId(grantId); }
  };
}
