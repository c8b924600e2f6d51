/**
 * The shape of every service's main.ts: read the topology named by IRSP_CONFIG, start, and stop cleanly on
 * SIGINT/SIGTERM (a second signal, or 10 s, forces the exit).
 */
import { createLogger, type Logger } from './logger.js';

export interface Running {
  close(): Promise<void>;
}

export function runMain(name: string, start: (logger: Logger) => Promise<Running>): void {
  const logger = createLogger({ name, level: process.env.LOG_LEVEL ?? 'info' });
  let running: Running | undefined;
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) process.exit(1);
    stopping = true;
    logger.info({ signal }, 'stopping');
    const force = setTimeout(() => process.exit(1), 10_000);
    force.unref();
    void (running?.close() ?? Promise.resolve()).then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  start(logger).then(
    (started) => {
      running = started;
      if (stopping) void started.close();
    },
    (error: unknown) => {
      logger.fatal({ err: error }, 'failed to start');
      process.exit(1);
    },
  );
}
