import Koa from 'koa';
import { answerParent } from './ipc.ts';

/** The ceiling: Koa answering a constant, on the same Node and loopback. */
const app = new Koa();
app.use((ctx) => {
  ctx.body = 'hello';
});
const server = app.listen(0, '127.0.0.1', () => answerParent((server.address() as { port: number }).port, {}));
