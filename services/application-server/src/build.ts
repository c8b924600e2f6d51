/**
 * The application server framework (clause 7.3, 8.3, 8.4, 8.6, 8.8): Messages 8–11 and 14–15 on the configured
 * service URIs with Tables 5 and 7, signed Messages 14–15 from application servers of other ASs, and the
 * applications: the default one, which records what it receives (`GET /received`) and sends on request
 * (`POST /send`), and — when configured — the third-party gateway (`/thirdparty/…` in, webhooks out).
 */
import type { ApplicationServerConfig, TlsMaterial } from '@irsp/config';
import { tokenDigest } from '@irsp/credentials';
import { OperationClient, createService, describeRoutes, type Logger } from '@irsp/http';
import { openApiDocument } from '@irsp/protocol';
import { loadMigrations, migrate, type Db } from '@irsp/store';
import type { FastifyInstance } from 'fastify';
import type { ApplicationServerContext } from './context.js';
import { gatewayOf } from './gateway/inbound.js';
import { GatewayOutbox, type GatewayOutboxOptions } from './gateway/outbox.js';
import { thirdPartyRoute } from './gateway/route.js';
import { deliverWebhooks } from './gateway/webhooks.js';
import { NonceStore } from './nonces.js';
import { messageRoutes } from './routes/messages.js';
import { receivedRoute } from './routes/received.js';
import { sendRoute } from './routes/send.js';
import { SignedClient } from './signed-client.js';

export interface ApplicationServerOptions {
  domain: string;
  config: ApplicationServerConfig;
  /** The other application servers of the AS (Messages 14–15 from and to them). */
  peers?: readonly ApplicationServerConfig[];
  /** The message servers of the AS (Messages 12–13). */
  messageServers?: readonly { url: string; pushUri: string }[];
  /** The CA that peers' certificates are checked with (sending 12–15 and webhooks). */
  ca?: string;
  http?: { method?: 'POST' | 'GET'; connectTimeoutMs?: number; requestTimeoutMs?: number };
  db: Db;
  logger: Logger;
  tls?: TlsMaterial;
  /** The gateway's webhook queue (tests shorten its delays). */
  gatewayOutbox?: GatewayOutboxOptions;
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
  const ca = options.ca ?? options.tls?.ca ?? '';
  const client = new OperationClient({ ca, ...options.http });
  const signedClient = new SignedClient({
    ca,
    method: options.http?.method,
    requestTimeoutMs: options.http?.requestTimeoutMs,
  });
  const thirdParties = config.gateway?.thirdParties ?? [];
  const outbox = new GatewayOutbox(
    db,
    options.logger.child({ module: 'gateway-outbox' }),
    deliverWebhooks(thirdParties, signedClient, config.credentials.appid),
    options.gatewayOutbox,
  );
  const context: ApplicationServerContext = {
    domain: options.domain,
    config,
    db,
    logger: options.logger,
    callers: [config.credentials, ...(options.peers ?? []).map((p) => p.credentials)].map((c) => ({
      appid: c.appid,
      tokenDigest: tokenDigest(c.token),
    })),
    localServers: (options.peers ?? []).map((p) => ({
      name: p.name,
      url: p.url,
      exchangeUri: p.serviceUris.exchange,
    })),
    peers: config.peers ?? [],
    messageServers: options.messageServers ?? [],
    client,
    signedClient,
    nonces: new NonceStore(db),
    webhooksQueued: () => outbox.kick(),
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
  sendRoute(app, context, ownDigest);
  if (thirdParties.length > 0) thirdPartyRoute(app, context, gatewayOf(thirdParties));
  return {
    app,
    context,
    async listen(listen = config.listen) {
      await app.listen({ host: listen.host, port: listen.port });
      if (thirdParties.length > 0) await outbox.start();
      const address = app.server.address();
      return typeof address === 'object' && address ? address.port : listen.port;
    },
    async close() {
      await outbox.stop();
      await app.close();
      await client.close();
      signedClient.close();
    },
  };
}
