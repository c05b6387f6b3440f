import { outsideRequests } from './request-reads.ts';

/**
 * Calls of one event-loop turn made one: each call's key is collected until the end of the
 * turn (setImmediate), then `run` gets the distinct keys, at most `max` at a time, and
 * answers each key (a key it leaves out gets `missing`). A key asked again in the same turn
 * is not asked twice: its later callers get the same answer when `repeat` is 'shared' (a
 * lookup), `missing` when it is 'missing' (a claim, which only one caller can win). If `run`
 * fails, every caller of its keys does. `run` works on behalf of several requests, so
 * outside all of them.
 *
 * For PostgreSQL, where each statement is a round trip: the requests read from the network
 * together reach the same statement together, and k of them then cost one round trip
 * instead of k (server/storage/oidc-adapter.ts).
 */
export function turnBatches<K, R>(max: number, missing: R, repeat: 'shared' | 'missing', run: (keys: K[]) => Promise<Map<K, R>>): (key: K) => Promise<R> {
  let pending: Map<K, PromiseWithResolvers<R>[]> | undefined;
  const flush = () => outsideRequests(() => {
    const batch = [...pending!];
    pending = undefined;
    for (let i = 0; i < batch.length; i += max) {
      const part = batch.slice(i, i + max);
      run(part.map(([key]) => key)).then(
        (answers) => {
          for (const [key, [first, ...later]] of part) {
            const answer = answers.has(key) ? answers.get(key)! : missing;
            first!.resolve(answer);
            for (const caller of later) caller.resolve(repeat === 'shared' ? answer : missing);
          }
        },
        (err: unknown) => { for (const [, callers] of part) for (const caller of callers) caller.reject(err); },
      );
    }
  });
  return (key) => {
    if (!pending) {
      pending = new Map();
      setImmediate(flush);
    }
    const caller = Promise.withResolvers<R>();
    const callers = pending.get(key);
    if (callers) callers.push(caller);
    else pending.set(key, [caller]);
    return caller.promise;
  };
}
