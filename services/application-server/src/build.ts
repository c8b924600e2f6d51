/**
 * The application server framework (clause 7.3, 8.3, 8.4): Messages 8–11 and 14–15 on the configured service URIs
 * with Tables 5 and 7, and the default application, which records what it receives (`GET /received`).
 */
import type { ApplicationServerConfig, Credential, TlsMaterial } from '@irsp/config';
import { tokenDigest } from '@irsp/credentials';
import { createService, describeRoutes, type Logger } from '@irsp/http';
import { openApiDocument } from '@irsp/protocol';
import { loadMigrations, migrate, type Db } from '@irsp/store';
import type { FastifyInstance } from 'fastify';
import type { ApplicationServerContext } from './context.js';
import { messageRoutes } from './routes/messages.js';
import { receivedRoute } from './routes/received.js';

export interface ApplicationServerOptions {
  domain: string;
  config: ApplicationServerConfig;
  /** Credentials of the other application servers of the AS (Messages 14–15 from them). */
  peers?: readonly Credential[];
  db: Db;
  logger: Logger;
  tls?: TlsMaterial;
}

export interface ApplicationServer {
  app: FastifyInstance;
  context: ApplicationServerContext;
  listen(listen?: { host: string; port: number }): Promise<number>;
  close(): Promise<void>;
}

export async function buildApplicationServer(options: ApplicationServerOptions): Promise<ApplicationServer> {
  const { db, config } = options;
  await migrate(db, await loadMigrations(new URL('../migrations/', import.meta.url)));
  const ownDigest = tokenDigest(config.credentials.token);
  const context: ApplicationServerContext = {
    domain: options.domain,
    config,
    db,
    logger: options.logger,
    callers: [config.credentials, ...(options.peers ?? [])].map((c) => ({
      appid: c.appid,
      tokenDigest: tokenDigest(c.token),
    })),
  };
  const routes = messageRoutes(context);
  const app = createService({
    logger: options.logger,
    tls: options.tls,
    bodyLimit: 1024 * 1024,
    ready: async () => (await db.query('SELECT 1')).rowCount === 1,
    openapi: () =>
      openApiDocument(
        { title: `IRSP application server ${config.name} of ${options.domain}`, version: '1' },
        describeRoutes(routes),
      ),
  });
  for (const route of routes) route.register(app);
  receivedRoute(app, context, ownDigest);
  return {
    app,
    context,
    async listen(listen = config.listen) {
      await app.listen({ host: listen.host, port: listen.port });
      const address = app.server.address();
      return typeof address === 'object' && address ? address.port : listen.port;
    },
    close: () => app.close(),
  };
}
