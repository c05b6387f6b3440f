import { randomBytes, randomUUID } from 'node:crypto';
import type { Transaction } from 'sequelize';
import type { Database } from './database.ts';
import { readOnce, remember } from './request-reads.ts';
import type { Keyring } from '../security/keyring.ts';
import digest from '../security/digest.ts';

export type CredentialType = 'totp' | 'passkey' | 'recovery';

/** What a user or an admin may see of a credential: never the secret. */
export type CredentialView = { id: string; type: CredentialType; label: string; createdAt: number; lastUsedAt: number | null };

/** A stored passkey: what @simplewebauthn/server needs to verify an assertion. */
export type Passkey = CredentialView & {
  userId: string;
  /** base64url credential id, unique across all users */
  credentialId: string;
  publicKey: string;
  counter: number;
  transports: string[];
  backedUp: boolean;
  /** the credential verified the user (PIN, biometrics) when it was registered */
  userVerified: boolean;
};

type Row = {
  id: string; user_id: string; type: CredentialType; label: string; data: string; lookup: string | null;
  counter: number | string | null; created_at: number | string; last_used_at: number | string | null;
};

type PasskeyData = { publicKey: string; transports: string[]; backedUp: boolean; userVerified: boolean };

export const RECOVERY_CODE_COUNT = 10;

const epoch = () => Math.floor(Date.now() / 1000);
const BASE32 = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';

/** 80 random bits as "XXXX-XXXX-XXXX-XXXX" (no 0/O, 1/I): too many to guess, so a plain SHA-256 keeps them safe at rest. */
function newRecoveryCode(): string {
  const bytes = randomBytes(16);
  const chars = [...bytes].map((b) => BASE32[b % 32]).join('');
  return chars.match(/.{4}/g)!.join('-');
}

/** Case, spaces and dashes do not matter when a code is typed back. */
export function normaliseRecoveryCode(code: string): string {
  return code.toUpperCase().replace(/[^A-Z0-9]/g, '');
}

const totpKey = (userId: string) => `credentials totp ${userId}`;

const recoveryHash = (userId: string, code: string) => digest(`recovery:${userId}:${normaliseRecoveryCode(code)}`);

function view(row: Row): CredentialView {
  return { id: row.id, type: row.type, label: row.label, createdAt: Number(row.created_at), lastUsedAt: row.last_used_at === null ? null : Number(row.last_used_at) };
}

/**
 * Every second factor of every user (DESIGN.md section 3), one row each. TOTP secrets are
 * sealed with the keyring, bound to the user id; passkeys keep their public key; recovery
 * codes only their SHA-256. Anything single-use is spent by a conditional UPDATE or DELETE
 * whose affected-row count decides, so racing requests cannot both succeed.
 */
export class Credentials {
  readonly #db: Database;
  readonly #keyring: Keyring;

  constructor(db: Database, keyring: Keyring) {
    this.#db = db;
    this.#keyring = keyring;
  }

  /** A user's TOTP and passkeys (recovery codes are counted, not listed: see recoveryLeft). */
  async list(userId: string, t?: Transaction): Promise<CredentialView[]> {
    const rows = await this.#db.select<Row>(
      "SELECT * FROM credentials WHERE user_id = :userId AND type <> 'recovery' ORDER BY created_at, id", { userId }, t);
    return rows.map(view);
  }

  /** True when the user has a second factor of their own (TOTP or a passkey). */
  async hasSecondFactor(userId: string, t?: Transaction): Promise<boolean> {
    const rows = await this.#db.select<{ id: string }>(
      "SELECT id FROM credentials WHERE user_id = :userId AND type IN ('totp', 'passkey') LIMIT 1", { userId }, t);
    return rows.length > 0;
  }

  async has(userId: string, type: CredentialType, t?: Transaction): Promise<boolean> {
    if (type === 'totp') return (await this.#totpRows(userId, t)).length > 0;
    const read = () => this.#db.select<{ id: string }>('SELECT id FROM credentials WHERE user_id = :userId AND type = :type LIMIT 1', { userId, type }, t);
    // Asked by each plan of a request: read once per request (server/storage/request-reads.ts).
    const rows = t ? await read() : await readOnce(['credentials'], `credentials has ${userId} ${type}`, read);
    return rows.length > 0;
  }

  /**
   * The user's TOTP row (one at most), read once per request: the plan asks whether it
   * exists, the step then checks a code against it, and the plan after the step asks again.
   */
  #totpRows(userId: string, t?: Transaction): Promise<Row[]> {
    const read = () => this.#db.select<Row>("SELECT * FROM credentials WHERE user_id = :userId AND type = 'totp'", { userId }, t);
    return t ? read() : readOnce(['credentials'], totpKey(userId), read);
  }

  /**
   * Removes one second factor of this user (a TOTP or a passkey); undefined when the user has
   * none by that id. Recovery codes stand in for a second factor, so they go with the last
   * one (as GitHub does): a leftover code would otherwise be a way in on its own once a new
   * factor is set up, and the set-up makes a fresh set anyway. One transaction: the codes
   * cannot outlive the factor, nor go while one remains.
   */
  async removeSecondFactor(userId: string, id: string, t?: Transaction): Promise<{ removed: CredentialView; recoveryCodesRemoved: number } | undefined> {
    const work = async (tx: Transaction) => {
      const [row] = await this.#db.select<Row>("SELECT * FROM credentials WHERE id = :id AND user_id = :userId AND type <> 'recovery'", { id, userId }, tx);
      if (!row || (await this.#db.change('DELETE FROM credentials WHERE id = :id', { id }, tx)) !== 1) return undefined;
      const recoveryCodesRemoved = (await this.hasSecondFactor(userId, tx)) ? 0 : await this.#db.change("DELETE FROM credentials WHERE user_id = :userId AND type = 'recovery'", { userId }, tx);
      return { removed: view(row), recoveryCodesRemoved };
    };
    return t ? work(t) : this.#db.transaction(work);
  }

  /** Every credential of a user, when the user is deleted (nothing of theirs may outlive them). */
  async removeAllFor(userId: string, t?: Transaction): Promise<number> {
    return this.#db.change('DELETE FROM credentials WHERE user_id = :userId', { userId }, t);
  }

  async rename(userId: string, id: string, label: string): Promise<boolean> {
    return (await this.#db.change('UPDATE credentials SET label = :label WHERE id = :id AND user_id = :userId', { id, userId, label })) === 1;
  }

  // ---- TOTP ------------------------------------------------------------------------------

  /** Sets (or replaces) the user's one TOTP secret; codes used under an old secret do not matter any more. */
  async setTotp(userId: string, secret: string, t?: Transaction): Promise<void> {
    const write = async (tx: Transaction) => {
      await this.#db.change("DELETE FROM credentials WHERE user_id = :userId AND type = 'totp'", { userId }, tx);
      await this.#db.change(
        `INSERT INTO credentials (id, user_id, type, label, data, lookup, counter, created_at, last_used_at)
         VALUES (:id, :userId, 'totp', 'Authenticator app', :sealed, NULL, NULL, :now, NULL)`,
        { id: randomUUID(), userId, sealed: this.#keyring.encrypt(secret, `totp:${userId}`), now: epoch() }, tx);
    };
    if (t) await write(t);
    else await this.#db.transaction(write);
  }

  /**
   * Enrolment at login: stores the first TOTP secret only while the user has no second
   * factor at all, in one statement (and one TOTP per user is a unique index); false otherwise.
   * (The casts tell PostgreSQL the types of parameters that appear in a SELECT list.)
   */
  async enrolFirstTotp(userId: string, secret: string): Promise<boolean> {
    return (await this.#db.change(
      `INSERT INTO credentials (id, user_id, type, label, data, lookup, counter, created_at, last_used_at)
       SELECT CAST(:id AS VARCHAR(64)), CAST(:userId AS VARCHAR(64)), 'totp', 'Authenticator app', CAST(:sealed AS TEXT), NULL, NULL, CAST(:now AS BIGINT), NULL
       WHERE NOT EXISTS (SELECT 1 FROM credentials WHERE user_id = :userId AND type IN ('totp', 'passkey'))`,
      { id: randomUUID(), userId, sealed: this.#keyring.encrypt(secret, `totp:${userId}`), now: epoch() })) === 1;
  }

  /** A TOTP secret being set up (kept in the login's or account page's state until confirmed), sealed. */
  sealPending(userId: string, secret: string): string {
    return this.#keyring.encrypt(secret, `totp-pending:${userId}`);
  }

  openPending(userId: string, sealed: string): string | undefined {
    try {
      return this.#keyring.decrypt(sealed, `totp-pending:${userId}`);
    } catch {
      return undefined;
    }
  }

  async totp(userId: string): Promise<{ secret: string; lastStep: number | null } | undefined> {
    const [row] = await this.#totpRows(userId);
    if (!row) return undefined;
    return { secret: this.#keyring.decrypt(row.data, `totp:${userId}`), lastStep: row.counter === null ? null : Number(row.counter) };
  }

  /**
   * Marks TOTP time step `step` as used. True for exactly one caller per step, even when
   * requests race: the conditional update is the lock.
   */
  async useTotpStep(userId: string, step: number): Promise<boolean> {
    const rows = await this.#db.select<Row>(
      "UPDATE credentials SET counter = :step, last_used_at = :now WHERE user_id = :userId AND type = 'totp' AND (counter IS NULL OR counter < :step) RETURNING *",
      { userId, step, now: epoch() });
    // The write forgot this request's read of the row; the row as written is what it holds now.
    if (rows.length) remember(['credentials'], totpKey(userId), rows);
    return rows.length === 1;
  }

  // ---- recovery codes --------------------------------------------------------------------

  /** A new set of codes, replacing any old set; returned once, stored only hashed. */
  async newRecoveryCodes(userId: string, t?: Transaction): Promise<string[]> {
    const codes = Array.from({ length: RECOVERY_CODE_COUNT }, newRecoveryCode);
    const write = async (tx: Transaction) => {
      await this.#db.change("DELETE FROM credentials WHERE user_id = :userId AND type = 'recovery'", { userId }, tx);
      const now = epoch();
      for (const code of codes) {
        await this.#db.change(
          `INSERT INTO credentials (id, user_id, type, label, data, lookup, counter, created_at, last_used_at)
           VALUES (:id, :userId, 'recovery', 'Recovery code', :hash, NULL, NULL, :now, NULL)`,
          { id: randomUUID(), userId, hash: recoveryHash(userId, code), now }, tx);
      }
    };
    if (t) await write(t);
    else await this.#db.transaction(write);
    return codes;
  }

  /** Spends one code: true for exactly one caller, however many present it at once. */
  async useRecoveryCode(userId: string, code: string): Promise<boolean> {
    return (await this.#db.change(
      "DELETE FROM credentials WHERE user_id = :userId AND type = 'recovery' AND data = :hash", { userId, hash: recoveryHash(userId, code) })) === 1;
  }

  async recoveryLeft(userId: string, t?: Transaction): Promise<number> {
    const [row] = await this.#db.select<{ n: number | string }>(
      "SELECT COUNT(*) AS n FROM credentials WHERE user_id = :userId AND type = 'recovery'", { userId }, t);
    return Number(row?.n ?? 0);
  }

  // ---- passkeys --------------------------------------------------------------------------

  /** Stores a registered passkey; false when that credential id is already registered (to anyone). */
  async addPasskey(userId: string, p: { credentialId: string; publicKey: string; counter: number; transports: string[]; backedUp: boolean; userVerified: boolean; label: string }): Promise<boolean> {
    const data: PasskeyData = { publicKey: p.publicKey, transports: p.transports, backedUp: p.backedUp, userVerified: p.userVerified };
    return (await this.#db.change(
      `INSERT INTO credentials (id, user_id, type, label, data, lookup, counter, created_at, last_used_at)
       VALUES (:id, :userId, 'passkey', :label, :data, :lookup, :counter, :now, NULL) ON CONFLICT (lookup) DO NOTHING`,
      { id: randomUUID(), userId, label: p.label, data: JSON.stringify(data), lookup: p.credentialId, counter: p.counter, now: epoch() })) === 1;
  }

  async passkeys(userId: string): Promise<Passkey[]> {
    return (await this.#db.select<Row>("SELECT * FROM credentials WHERE user_id = :userId AND type = 'passkey' ORDER BY created_at, id", { userId })).map(toPasskey);
  }

  async passkeyByCredentialId(credentialId: string): Promise<Passkey | undefined> {
    const [row] = await this.#db.select<Row>("SELECT * FROM credentials WHERE lookup = :credentialId AND type = 'passkey'", { credentialId });
    return row && toPasskey(row);
  }

  /**
   * Records a verified use. The signature counter must move forward (a cloned authenticator
   * replays an old one) unless the authenticator keeps none (always 0, as synced passkeys
   * do); the update is conditional on the counter read, so two racing uses cannot both pass.
   */
  async usePasskey(p: Passkey, newCounter: number, backedUp: boolean): Promise<boolean> {
    const data: PasskeyData = { publicKey: p.publicKey, transports: p.transports, backedUp, userVerified: p.userVerified };
    return (await this.#db.change(
      "UPDATE credentials SET counter = :newCounter, data = :data, last_used_at = :now WHERE id = :id AND type = 'passkey' AND counter = :old",
      { id: p.id, newCounter, old: p.counter, data: JSON.stringify(data), now: epoch() })) === 1;
  }
}

function toPasskey(row: Row): Passkey {
  const data = JSON.parse(row.data) as PasskeyData;
  return {
    ...view(row), userId: row.user_id, credentialId: row.lookup!, publicKey: data.publicKey, counter: Number(row.counter ?? 0),
    transports: data.transports, backedUp: data.backedUp, userVerified: data.userVerified,
  };
}
