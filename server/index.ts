import { createServer, type Server } from 'node:http';
import type { Config } from '../config/index.ts';
import { createStepgate, type Stepgate } from './app.ts';
import type { StepgateOptions } from './services.ts';
import { seedDemo } from './demo-seed.ts';
import { sweep } from './storage/sweeps.ts';
import answerClientError from './middleware/client-error.ts';

export type Running = { stepgate: Stepgate; server: Server; url: string; stop(): Promise<void> };

/**
 * Reads storage, builds the app and listens. `stop` (also on SIGTERM/SIGINT when
 * `handleSignals`) stops accepting, lets in-flight requests finish, then closes the database.
 */
export async function serve(config: Config, options: { handleSignals?: boolean; log?: (line: string) => void } & StepgateOptions = {}): Promise<Running> {
  const stepgate = await createStepgate(config, options);
  const banner = await seedDemo(stepgate);
  if (banner) (options.log ?? console.log)(banner);

  const server = createServer(stepgate.app.callback());
  server.keepAliveTimeout = 5_000;
  server.requestTimeout = 30_000;
  server.on('clientError', answerClientError);
  await new Promise<void>((resolve) => server.listen(config.port, resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  stepgate.mail.announce();
  stepgate.logger.info({ port, issuer: config.issuer }, 'stepgate listening');

  const sweeper = setInterval(() => {
    sweep(stepgate.db, stepgate.audit, { sessionTtl: config.ttl.session, lockoutWindow: config.lockout.windowSeconds, auditRetentionDays: config.auditRetentionDays })
      .then((counts) => stepgate.logger.info({ counts }, 'swept expired rows'), (err) => stepgate.logger.warn({ err }, 'sweep failed'));
  }, 10 * 60_000);
  sweeper.unref();

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      clearInterval(sweeper);
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      await stepgate.close();
    })();
    return stopping;
  };
  if (options.handleSignals) {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      process.once(signal, () => {
        stepgate.logger.info({ signal }, 'shutting down');
        stop().then(() => process.exit(0), () => process.exit(1));
      });
    }
  }
  return { stepgate, server, url: `http://127.0.0.1:${port}`, stop };
}
