import { run } from './cli/index.ts';

// `stepgate <noun> <verb>`: see server/cli/.
await run();
