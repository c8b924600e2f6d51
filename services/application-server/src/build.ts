/**
 * The application server framework (clause 7.3, 8.3, 8.4): Messages 8–11 and 14–15 on the configured service URIs
 * with Tables 5 and 7, and the default application, which records what it receives (`GET /received`).
 */
import type { ApplicationServerConfig, TlsMaterial } from '@irsp/config';
import { tokenDigest } from '@irsp/credentials';
import { OperationClient, createService, describeRoutes, type Logger } from '@irsp/http';
import { openApiDocument } from '@irsp/protocol';
import { loadMigrations, migrate, type Db } from '@irsp/store';
import type { FastifyInstance } from 'fastify';
import type { ApplicationServerContext } from './context.js';
import { messageRoutes } from './routes/messages.js';
import { receivedRoute } from './routes/received.js';
import { sendRoute } from './routes/send.js';

export interface ApplicationServerOptions {
  domain: string;
  config: ApplicationServerConfig;
  /** The other application servers of the AS (Messages 14–15 from and to them). */
  peers?: readonly ApplicationServerConfig[];
  /** The message servers of the AS (Messages 12–13). */
  messageServers?: readonly { url: string; pushUri: string }[];
  /** The CA that peers' certificates are checked with (sending 12–15). */
  ca?: string;
  http?: { method?: 'POST' | 'GET'; connectTimeoutMs?: number; requestTimeoutMs?: number };
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
    callers: [config.credentials, ...(options.peers ?? []).map((p) => p.credentials)].map((c) => ({
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
  const client = new OperationClient({ ca: options.ca ?? options.tls?.ca ?? '', ...options.http });
  sendRoute(
    app,
    context,
    client,
    {
      messageServers: options.messageServers ?? [],
      peers: (options.peers ?? []).map((p) => ({
        name: p.name,
        url: p.url,
        exchangeUri: p.serviceUris.exchange,
      })),
    },
    ownDigest,
  );
  return {
    app,
    context,
    async listen(listen = config.listen) {
      await app.listen({ host: listen.host, port: listen.port });
      const address = app.server.address();
      return typeof address === 'object' && address ? address.port : listen.port;
    },
    async close() {
      await app.close();
      await client.close();
    },
  };
}
