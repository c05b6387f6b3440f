/**
 * The benchmark servers' side of the parent's requests: the parent asks (over the IPC
 * channel) for pre-minted codes or tokens before it measures, and the server answers.
 */
export type Handlers = Record<string, (args: Record<string, unknown>) => Promise<unknown>>;

export function answerParent(port: number, handlers: Handlers): void {
  process.on('message', async (message: { id: number; op: string; args: Record<string, unknown> }) => {
    try {
      const handler = handlers[message.op];
      if (!handler) throw new Error(`unknown op ${message.op}`);
      process.send!({ id: message.id, result: await handler(message.args) });
    } catch (err) {
      process.send!({ id: message.id, error: (err as Error).message });
    }
  });
  // The parent closes the channel when it is done with us.
  process.on('disconnect', () => process.exit(0));
  // A normal exit, so that --cpu-prof can write its profile.
  process.on('SIGTERM', () => process.exit(0));
  process.send!({ ready: port });
}
