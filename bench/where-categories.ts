/**
 * The kind of code a `perf report` row (shared object, symbol) belongs to, for
 * `npm run bench:where`. SQLite is compiled into the node binary, so its functions are
 * told apart by name; JIT-compiled JavaScript is named by `--perf-basic-prof` with its
 * source file; kernel functions by what they serve (files: SQLite's reads, writes and
 * locks; network: HTTP).
 */
const SQLITE = /sqlite|^wal[A-Z]|pcache|pager|btree|vdbe|^balance_|^unix[A-Z]|^robust_|memjrnl|accessPayload|getPageNormal|moveToChild|moveToRoot|insertCell|fillInCell|dropCell|allocateSpace|defragmentPage|rebuildPage|editPage|getAndInitPage|btreeParseCell|cellSize|^yy_|whereLoop|^subjournal|releasePage|readDbPage|^checkpoint/i;
const KERNEL_FILES = /ext4|filemap|folio|pwrite|pread|^vfs_|rw_verify|generic_perform_write|^block_|mpage|balance_dirty|^xas_|copy_to_iter|copy_page_to_iter|lruvec|posix_lock|fcntl|locks_|^fdget|^fput|jbd2|mark_buffer|iomap|generic_file|fsnotify|security_file/;
const KERNEL_NETWORK = /tcp|^ip_|inet|sock|skb|^net_|napi|dev_queue|loopback|netif|^sk_|epoll|^ep_|softirq|sendto|recvfrom/;

export function categoryOf(dso: string, symbol: string): string {
  if (dso.startsWith('[kernel')) {
    if (KERNEL_FILES.test(symbol)) return 'kernel: files (SQLite\'s reads, writes, locks)';
    if (KERNEL_NETWORK.test(symbol)) return 'kernel: network, epoll';
    return 'kernel: other (scheduling, system call entry)';
  }
  if (dso.startsWith('[JIT]')) {
    if (symbol.includes('/node_modules/oidc-provider/')) return 'JavaScript: oidc-provider';
    if (symbol.includes('/node_modules/')) return 'JavaScript: other packages';
    if (/file:\/\/\S*\/(server|config)\//.test(symbol)) return 'JavaScript: stepgate';
    return 'JavaScript: Node.js internals, V8 builtins';
  }
  if (dso === 'node') {
    if (SQLITE.test(symbol)) return 'SQLite';
    if (symbol.startsWith('Builtins_')) return 'V8 builtins (property access, calls, promises)';
    if (symbol.includes('v8::')) return 'V8 runtime (C++)';
    return 'Node.js C++, libuv, llhttp';
  }
  if (dso.startsWith('libc')) return 'libc (malloc, memcpy)';
  return `other: ${dso}`;
}
