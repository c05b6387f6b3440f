import argon2 from 'argon2';
import type { Config } from '../../config/index.ts';

/**
 * argon2id hashing with the configured cost. `verify` against an unknown user runs
 * against a fixed dummy hash of the same cost, so "no such user" and "wrong password"
 * take the same time and give the same answer.
 */
export class Passwords {
  readonly #options: Config['argon2'];
  #dummy: Promise<string> | undefined;

  constructor(options: Config['argon2']) {
    this.#options = options;
  }

  hash(password: string): Promise<string> {
    return argon2.hash(password, { type: argon2.argon2id, ...this.#options });
  }

  async verify(hash: string | null | undefined, password: string): Promise<boolean> {
    this.#dummy ??= this.hash('stepgate-dummy-password');
    try {
      return await argon2.verify(hash ?? (await this.#dummy), password) && hash != null;
    } catch {
      return false;
    }
  }
}
