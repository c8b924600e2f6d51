/** Builds a ready account server (client API, Message 7, reconciler) without listening. */
import { DEFAULT_GUESSING, type GuessingConfig, type TlsMaterial, type Topology } from '@irsp/config';
import { GuessPolicy, OperatorCheck, addressSource, type OperatorCredential } from '@irsp/credentials';
import { OperationClient, Probe, createService, describeRoutes, serveAdmin, type Logger } from '@irsp/http';
import { openApiDocument } from '@irsp/protocol';
import { loadMigrations, migrate, type Db } from '@irsp/store';
import type { FastifyInstance } from 'fastify';
import { adminRoutes } from './admin/routes.js';
import { MetricSampler, sampledServices } from './console/history.js';
import { consoleRoute } from './console/overview.js';
import { consolePage } from './console/page.js';
import type { AccountServerContext } from './context.js';
import { allowOrigins } from './cors.js';
import { Directory } from './directory.js';
import { startReconciler } from './reconciler.js';
import { clientDeviceModifyRoute } from './routes/client-device-modify.js';
import { clientDeviceRegisterRoute } from './routes/client-device-register.js';
import { clientDeviceRemoveRoute } from './routes/client-device-remove.js';
import { clientUserModifyRoute } from './routes/client-user-modify.js';
import { clientUserRegisterRoute } from './routes/client-user-register.js';
import { clientUserRemoveRoute } from './routes/client-user-remove.js';
import { message7Route } from './routes/message7-modify-verify-code.js';

export interface AccountServerOptions {
  autonomousSystems: Topology['autonomousSystems'];
  db: Db;
  logger: Logger;
  /** HTTPS material; absent only in tests that use inject(). */
  tls?: TlsMaterial;
  /** The CA that message servers' certificates are checked with. */
  ca: string;
  http?: { method?: 'POST' | 'GET'; connectTimeoutMs?: number; requestTimeoutMs?: number };
  reconcile?: { intervalMs: number; settleAfterMs?: number };
  /** Limits on guessing passwords (defaults: DEFAULT_GUESSING of @irsp/config); only `passwords` applies here. */
  guessing?: GuessingConfig;
  /** The clock of the guessing throttle (tests move it instead of waiting). */
  now?: () => number;
  /** Browser origins allowed to call the client API (CORS, cors.ts); none by default. */
  corsOrigins?: readonly string[];
  /** Who may call the admin API (none: every call is refused). */
  operators?: readonly OperatorCredential[];
  /** Its own base URL (what the operator console shows and samples); absent only in tests that use inject(). */
  url?: string;
  /** How often the operator console samples every service's metrics (default 10 s; decision 0023). */
  consoleSampleIntervalMs?: number;
}

export interface AccountServer {
  app: FastifyInstance;
  context: AccountServerContext;
  listen(listen: { host: string; port: number }): Promise<number>;
  close(): Promise<void>;
}

export async function buildAccountServer(options: AccountServerOptions): Promise<AccountServer> {
  const { db, logger } = options;
  await migrate(db, await loadMigrations(new URL('../migrations/', import.meta.url)));
  const client = new OperationClient({ ca: options.ca, ...options.http });
  const context: AccountServerContext = {
    db,
    logger,
    client,
    directory: new Directory({ autonomousSystems: options.autonomousSystems }),
    passwords: new GuessPolicy('password', (options.guessing ?? DEFAULT_GUESSING).passwords, db, options.now),
  };
  const clientRoutes = [
    clientUserRegisterRoute(context),
    clientDeviceRegisterRoute(context),
    clientUserModifyRoute(context),
    clientDeviceModifyRoute(context),
    clientUserRemoveRoute(context),
    clientDeviceRemoveRoute(context),
  ];
  const routes = [...clientRoutes, message7Route(context)];
  // The operator console (decision 0023): its page, its one admin call, and the metric history it plots.
  const url = options.url ?? 'https://127.0.0.1';
  const probe = new Probe(options.ca);
  const sampler = new MetricSampler(
    sampledServices(url, options.autonomousSystems),
    options.autonomousSystems,
    probe,
    logger.child({ module: 'console' }),
    options.consoleSampleIntervalMs ?? 10_000,
  );
  const admin = [
    ...adminRoutes(context, Date.now()),
    consoleRoute({ db, url, autonomousSystems: options.autonomousSystems, probe, sampler }),
  ];
  const app = createService({
    logger,
    tls: options.tls,
    bodyLimit: 64 * 1024,
    ready: async () => (await db.query('SELECT 1')).rowCount === 1,
    openapi: () =>
      openApiDocument(
        { title: 'IRSP account server', version: '1' },
        describeRoutes(routes),
        admin.map((a) => a.call),
      ),
  });
  allowOrigins(app, options.corsOrigins ?? []);
  consolePage(app, logger);
  for (const route of routes) route.register(app);
  // Operators' passwords are throttled as accounts' are, in a scope of their own (decision 0010).
  const operators = new OperatorCheck(
    options.operators ?? [],
    new GuessPolicy('operator', (options.guessing ?? DEFAULT_GUESSING).passwords, db, options.now),
  );
  serveAdmin(
    app,
    (request) => operators.check(request.headers.authorization, addressSource(request.ip)),
    admin,
  );

  const requestTimeoutMs = options.http?.requestTimeoutMs ?? 10_000;
  let stopReconciler: (() => Promise<void>) | undefined;
  return {
    app,
    context,
    async listen(listen) {
      await app.listen({ host: listen.host, port: listen.port });
      stopReconciler = startReconciler(context, {
        intervalMs: options.reconcile?.intervalMs ?? 30_000,
        // Longer than any request can still be in flight (two sends of Message 1–6 per request at most… and a margin).
        settleAfterMs: options.reconcile?.settleAfterMs ?? 6 * requestTimeoutMs,
      });
      sampler.start();
      const address = app.server.address();
      return typeof address === 'object' && address ? address.port : listen.port;
    },
    async close() {
      await stopReconciler?.();
      await sampler.stop();
      await app.close();
      await client.close();
      await probe.close();
    },
  };
}
