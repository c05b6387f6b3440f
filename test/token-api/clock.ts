const realNow = Date.now;

/**
 * Sets this process's clock (`Date.now`, which oidc-provider, the storage adapter and
 * requireScopes read) to the start of second `epochSeconds`. The broker under test runs
 * in this process, so token lifetimes are checked at their exact boundaries without
 * waiting for them.
 */
export function setClock(epochSeconds: number): void {
  const offset = epochSeconds * 1000 + 1 - realNow();
  Date.now = () => realNow() + offset;
}

export function restoreClock(): void {
  Date.now = realNow;
}
