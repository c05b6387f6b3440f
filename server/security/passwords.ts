import { availableParallelism } from 'node:os';
import argon2 from 'argon2';
import type { Config } from '../../config/index.ts';

/**
 * At most one argon2 computation per CPU this process may run on: more in flight add no
 * throughput, only memory (each holds `memoryCost` KiB) and threadpool slots that
 * database and crypto work also need. The rest wait their turn, in order.
 */
class Gate {
  readonly #limit: number;
  #running = 0;
  readonly #waiting: (() => void)[] = [];

  constructor(limit: number) {
    this.#limit = limit;
  }

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.#running >= this.#limit) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    else this.#running++;
    try {
      return await work();
    } finally {
      const next = this.#waiting.shift();
      if (next) next();
      else this.#running--;
    }
  }
}

/**
 * argon2id hashing with the configured cost. `verify` against an unknown user runs
 * against a fixed dummy hash of the same cost, so "no such user" and "wrong password"
 * take the same time and give the same answer.
 */
export class Passwords {
  readonly #options: Config['argon2'];
  readonly #gate = new Gate(availableParallelism());
  #dummy: Promise<string> | undefined;

  constructor(options: Config['argon2']) {
    this.#options = options;
  }

  hash(password: string): Promise<string> {
    return this.#gate.run(() => argon2.hash(password, { type: argon2.argon2id, ...this.#options }));
  }

  async verify(hash: string | null | undefined, password: string): Promise<boolean> {
    this.#dummy ??= this.hash('stepgate-dummy-password');
    try {
      const against = hash ?? (await this.#dummy);
      return await this.#gate.run(() => argon2.verify(against, password)) && hash != null;
    } catch {
      return false;
    }
  }
}
