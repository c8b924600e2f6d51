/**
 * The application server shell: HTTPS with health, readiness, metrics and OpenAPI. Messages 8–11 and 14–15
 * and the applications built on them (default, smart lock, third-party gateway) come with the message
 * server issue; until then it is what `pnpm start` runs in each AS so that the topology is complete.
 */
import type { ApplicationServerConfig, TlsMaterial } from '@irsp/config';
import { createService, type Logger } from '@irsp/http';
import { openApiDocument } from '@irsp/protocol';
import type { Db } from '@irsp/store';
import type { FastifyInstance } from 'fastify';

export interface ApplicationServerOptions {
  domain: string;
  config: ApplicationServerConfig;
  db: Db;
  logger: Logger;
  tls?: TlsMaterial;
}

export interface ApplicationServer {
  app: FastifyInstance;
  listen(listen?: { host: string; port: number }): Promise<number>;
  close(): Promise<void>;
}

export async function buildApplicationServer(options: ApplicationServerOptions): Promise<ApplicationServer> {
  const { db, config } = options;
  const app = createService({
    logger: options.logger,
    tls: options.tls,
    ready: async () => (await db.query('SELECT 1')).rowCount === 1,
    openapi: () =>
      openApiDocument(
        { title: `IRSP application server ${config.name} of ${options.domain}`, version: '1' },
        [],
      ),
  });
  return {
    app,
    async listen(listen = config.listen) {
      await app.listen({ host: listen.host, port: listen.port });
      const address = app.server.address();
      return typeof address === 'object' && address ? address.port : listen.port;
    },
    close: () => app.close(),
  };
}
