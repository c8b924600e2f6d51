/**
 * The application server framework (clause 7.3, 8.3, 8.4, 8.6): Messages 8–11 and 14–15 on the configured service
 * URIs with Tables 5 and 7, signed Messages 14–15 from application servers of other ASs, durable sending of 12–15
 * for its applications (send-outbox.ts), and the applications the topology names (application.ts: the recorder by
 * default, the third-party gateway of clause 8.8 when configured).
 */
import { applicationsOf, type ApplicationServerConfig, type TlsMaterial } from '@irsp/config';
import { tokenDigest } from '@irsp/credentials';
import { OperationClient, createService, describeRoutes, type Logger } from '@irsp/http';
import { openApiDocument } from '@irsp/protocol';
import { loadMigrations, migrate, type Db, type KeyedOutboxOptions } from '@irsp/store';
import type { FastifyInstance } from 'fastify';
import type { Application, ApplicationContext, ApplicationFactory, ClientEndpoints } from './application.js';
import { applicationFactories } from './applications/index.js';
import { isOwnCredential } from './basic-auth.js';
import type { ApplicationServerContext } from './context.js';
import { NonceStore } from './nonces.js';
import { messageRoutes } from './routes/messages.js';
import { SendOutbox, enqueueSend } from './send-outbox.js';
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
  /** The outboxes' timing (tests shorten their delays). */
  outbox?: KeyedOutboxOptions;
  /** Where users reach the IRSP (the account server, XMPP over WebSocket), for applications' web apps. */
  clientEndpoints?: ClientEndpoints;
  /** Applications besides the built-in ones, by name (tests and embedders); the topology still chooses. */
  applications?: Record<string, ApplicationFactory>;
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
      appid: p.credentials.appid,
      thirdParties: (p.gateway?.thirdParties ?? []).map((t) => t.name),
    })),
    peers: config.peers ?? [],
    messageServers: options.messageServers ?? [],
    client,
    signedClient,
    nonces: new NonceStore(db),
    applications: [],
    sendsQueued: () => undefined,
  };
  const sendOutbox = new SendOutbox(
    db,
    options.logger.child({ module: 'send-outbox' }),
    context,
    options.outbox,
  );
  const factories = { ...applicationFactories(options.outbox), ...options.applications };
  const applications: Application[] = [];
  for (const name of applicationsOf(config)) {
    const factory = factories[name];
    if (!factory)
      throw new Error(
        `application server ${config.name}: no application named ${name} (there are: ${Object.keys(factories).join(', ')})`,
      );
    const applicationContext: ApplicationContext = {
      domain: options.domain,
      server: { name: config.name, jid: config.jid, url: config.url },
      clientEndpoints: options.clientEndpoints ?? {},
      db,
      logger: options.logger.child({ application: name }),
      async push(to, data, tx) {
        await enqueueSend(tx ?? db, name, { kind: 'message-server' }, to, data);
        if (!tx) sendOutbox.kick();
      },
      async exchange(target, to, data, tx) {
        await enqueueSend(tx ?? db, name, { kind: 'application-server', ...target }, to, data);
        if (!tx) sendOutbox.kick();
      },
      isOperator: (authorization) => isOwnCredential(context, authorization, ownDigest),
      framework: context,
    };
    const application = factory(applicationContext, config);
    if (application.migrations)
      await migrate(db, await loadMigrations(application.migrations), { ledger: `${name}_migrations` });
    applications.push(application);
  }
  context.applications = applications;
  context.sendsQueued = () => sendOutbox.kick();
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
  for (const application of applications) application.routes?.(app);
  return {
    app,
    context,
    async listen(listen = config.listen) {
      await app.listen({ host: listen.host, port: listen.port });
      await sendOutbox.start();
      for (const application of applications) await application.start?.();
      const address = app.server.address();
      return typeof address === 'object' && address ? address.port : listen.port;
    },
    async close() {
      for (const application of [...applications].reverse()) await application.stop?.();
      await sendOutbox.stop();
      await app.close();
      await client.close();
      signedClient.close();
    },
  };
}
