import { availableParallelism } from 'node:os';
import argon2 from 'argon2';

/**
 * argon2id hashes per second (and CPU time per hash) at the production cost (m=19456, t=2, p=1), with as many
 * hashes in flight as the server runs (one per CPU it may use: server/security/passwords.ts;
 * this script runs pinned like the server): the ceiling for password logins on the same
 * core, without measuring contention the server never has. Prints one JSON line.
 */
const concurrency = availableParallelism();
const seconds = Number(process.argv[2] ?? 5);
const options = { type: argon2.argon2id, memoryCost: 19456, timeCost: 2, parallelism: 1 } as const;

await argon2.hash('warm-up', options);
let done = 0;
const cpuStart = process.cpuUsage();
const start = performance.now();
const until = start + seconds * 1000;
await Promise.all(Array.from({ length: concurrency }, async () => {
  while (performance.now() < until) {
    await argon2.hash('correct horse battery staple', options);
    done++;
  }
}));
const cpu = process.cpuUsage(cpuStart);
console.log(JSON.stringify({ inFlight: concurrency, rate: done / ((performance.now() - start) / 1000), cpuMsPerHash: (cpu.user + cpu.system) / 1000 / done }));
