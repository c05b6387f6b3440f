#!/usr/bin/env node
// stepgate runs its TypeScript sources directly (Node.js 24 strips types natively).
const [major] = process.versions.node.split('.').map(Number);
if (major < 24) {
  console.error(`stepgate needs Node.js 24 or newer (this is ${process.version}). Run it through npm (npx stepgate ...), which uses the Node.js 24 installed with the package.`);
  process.exit(2);
}
await import('../server/cli.ts');
