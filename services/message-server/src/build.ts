/** Builds a ready message server (admin API, outbox) without listening: tests and main.ts both call it. */
import {
  DEFAULT_GUESSING,
  XMPP_WEBSOCKET_PATH,
  type GuessingConfig,
  type ApplicationServerConfig,
  type ClusterConfig,
  type MessageServerConfig,
  type TlsMaterial,
} from '@irsp/config';
import {
  GuessPolicy,
  OperatorCheck,
  addressSource,
  randomSecret,
  tokenDigest,
  type OperatorCredential,
} from '@irsp/credentials';
import {
  OperationClient,
  createService,
  describeRoutes,
  gaugeOnScrape,
  serveAdmin,
  type Logger,
} from '@irsp/http';
import { deliveryHeaders, message7, openApiDocument } from '@irsp/protocol';
import { SHARE_KEY_DEFAULTS } from '@irsp/osap';
import { loadMigrations, migrate, type Db } from '@irsp/store';
import type { FastifyInstance } from 'fastify';
import { createHmac } from 'node:crypto';
import { outboxBacklog } from './admin/outbox-backlog.js';
import { adminRoutes } from './admin/routes.js';
import { ClusterBus } from './cluster.js';
import type { MessageServerContext } from './context.js';
import { CredentialCache } from './credential-cache.js';
import { Outbox, type OutboxOptions, type OutboxRow } from './outbox.js';
import { message1Route } from './routes/message1-user-register.js';
import { message2Route } from './routes/message2-device-register.js';
import { message3Route } from './routes/message3-user-modify.js';
import { message4Route } from './routes/message4-device-modify.js';
import { message5Route } from './routes/message5-user-remove.js';
import { message6Route } from './routes/message6-device-remove.js';
import { message12and13Route } from './routes/message12-13-push.js';
import { ACCOUNT_SERVER_TARGET, resetVerifyCode } from './verify-code.js';
import { Notifications, deliverNotification } from './notifications.js';
import {
  DEFAULT_ONLINE_SESSION_OPTIONS,
  OnlineSessions,
  type OnlineSessionOptions,
  type SessionHooks,
} from './online-sessions.js';
import { OsapAttributes } from './osap/attributes.js';
import { DasDirectory, reachableDasProbe, type DasProbe } from './osap/das-choice.js';
import { DasServer } from './osap/das-server.js';
import { DasStore } from './osap/das-store.js';
import { LbsServer } from './osap/lbs-server.js';
import { LbsStore } from './osap/lbs-store.js';
import { createC2sServer } from './xmpp/c2s.js';
import { DEFAULT_OFFLINE_LIMITS, OfflineStore, type OfflineLimits } from './xmpp/offline.js';
import { MessageRouter } from './xmpp/router.js';
import {
  ConnectionBudget,
  S2sServer,
  connectionCap,
  openFileLimit,
  type C2sLimits,
  type S2sLimits,
} from '@irsp/xmpp';

export interface MessageServerOptions {
  domain: string;
  config: MessageServerConfig;
  accountServerUrl: string;
  db: Db;
  logger: Logger;
  /** HTTPS material; absent only in tests that use inject(). */
  tls?: TlsMaterial;
  /** The CA that peers' certificates are checked with. */
  ca: string;
  http?: { method?: 'POST' | 'GET'; connectTimeoutMs?: number; requestTimeoutMs?: number };
  outbox?: OutboxOptions;
  /** Limits of the XMPP c2s streams (defaults in @irsp/xmpp). */
  c2sLimits?: Partial<C2sLimits>;
  /** Offline storage per recipient (defaults: 1 000 messages, 30 days). */
  offline?: Partial<OfflineLimits>;
  /** The application servers of this AS (Messages 8–13). */
  applicationServers?: readonly ApplicationServerConfig[];
  /** Limits on guessing passwords and verification codes (defaults: DEFAULT_GUESSING of @irsp/config). */
  guessing?: GuessingConfig;
  /** The clock of the guessing throttle (tests move it instead of waiting). */
  now?: () => number;
  /**
   * The lease on this server's record of who is online (default 30 s): sessions of a server that died are reported
   * offline by another one this long after its last renewal (docs/decisions/0013-online-sessions.md).
   */
  onlineSessions?: Partial<OnlineSessionOptions>;
  /**
   * XMPP federation with other ASs (clause 8.5), when `config.xmpp.s2sPort` is set: where other domains are
   * (`s2sRoutes` of the topology; others by DNS SRV) and the limits of the s2s streams.
   */
  federation?: {
    routes?: Record<string, { host: string; port: number }[]>;
    limits?: Partial<S2sLimits>;
  };
  /** Who may call the admin API (none: every call is refused). */
  operators?: readonly OperatorCredential[];
  /** How the LBS learns the health and load of the DAS instances (default: reachableDasProbe of das-choice.ts). */
  dasProbe?: DasProbe;
  /**
   * Several message servers of this AS on one NATS bus (docs/decisions/0024-cluster-on-nats.md); `db` must then be
   * the AS's shared database. Absent: this server works alone.
   */
  cluster?: ClusterConfig;
}

export interface ListeningPorts {
  http: number;
  /** XMPP c2s with STARTTLS, direct TLS and WebSocket (RFC 7395), when the configuration has an `xmpp` section. */
  c2s?: number;
  directTls?: number;
  websocket?: number;
  /** XMPP c2s without TLS for a TLS-terminating proxy (`xmpp.plainPort`): SCRAM only. */
  plain?: number;
  /** XMPP server-to-server (clause 8.5). */
  s2s?: number;
  /** The OSAP LBS (direct TLS), when the configuration has an `osap` section. */
  lbs?: number;
  /** The OSAP DAS (MQTT, direct TLS), when the configuration has `osap.dasListener`. */
  das?: number;
}

export interface MessageServer {
  app: FastifyInstance;
  context: MessageServerContext;
  /** Listens on the configured (or given) addresses, starts deliveries; returns the bound ports. */
  listen(listen?: { host: string; port: number }): Promise<ListeningPorts>;
  close(): Promise<void>;
}

export async function buildMessageServer(options: MessageServerOptions): Promise<MessageServer> {
  const { db, logger, config } = options;
  await migrate(db, await loadMigrations(new URL('../migrations/', import.meta.url)));
  // Without NATS a clustered server would run as an island: it does not start (decision 0024).
  const bus = options.cluster
    ? await ClusterBus.connect(
        options.cluster.nats,
        options.domain,
        config.id,
        logger.child({ module: 'cluster' }),
      )
    : undefined;
  const client = new OperationClient({ ca: options.ca, ...options.http });
  const guessing = options.guessing ?? DEFAULT_GUESSING;
  const applicationServers = options.applicationServers ?? [];
  const shareKeyIterations = config.osap?.shareKeyIterations ?? SHARE_KEY_DEFAULTS.iterations;
  const deliver = async (row: OutboxRow) => {
    const notification = deliverNotification(client, applicationServers, row);
    if (notification) return notification;
    if (row.target !== ACCOUNT_SERVER_TARGET || row.operation !== message7.name) {
      return { kind: 'status', status: 400, detail: `no route for ${row.target} ${row.operation}` } as const;
    }
    const { deviceid = '', verifycode = '' } = row.params;
    return client.send(
      message7,
      options.accountServerUrl,
      { deviceid, verifycode, ...config.credentials.toAccountServer },
      { headers: deliveryHeaders({ id: row.deliveryId, attempt: row.attempts }) },
    );
  };
  const outbox = new Outbox(db, logger.child({ module: 'outbox' }), deliver, {
    ...options.outbox,
    // In a cluster, rows name their leaser: a dead server's are taken over at once (decision 0024).
    ...(options.cluster ? { leaser: config.id } : {}),
  });
  const offline = new OfflineStore(db, { ...DEFAULT_OFFLINE_LIMITS, ...options.offline });
  const notifications = new Notifications(db, outbox, applicationServers);
  const router = new MessageRouter(
    options.domain,
    db,
    offline,
    notifications,
    (device, code) => resetVerifyCode(db, outbox, device, code, shareKeyIterations),
    logger.child({ module: 'router' }),
    {
      policy: new GuessPolicy('verifycode', guessing.verifyCodes, db, options.now),
      limits: guessing.verifyCodes.limits,
    },
  );
  // One budget of sockets for every listener of the process: XMPP c2s and s2s, OSAP, and the admin API.
  const connections = new ConnectionBudget(
    connectionCap(config.xmpp?.maxConnections, openFileLimit()),
    logger.child({ module: 'connections' }),
  );
  // The DAS beside the LBS: an OSAP device's connection is a session of its device account (decisions 0022, 0027).
  const dasListener = config.osap?.dasListener;
  const das =
    dasListener && options.tls
      ? new DasServer({
          domain: options.domain,
          config: dasListener,
          tls: options.tls,
          connections,
          store: new DasStore(db),
          attributes: new OsapAttributes(db),
          logger: logger.child({ module: 'osap-das' }),
          bridge: {
            bound: (session) => router.bound(session),
            route: (session, stanza) => router.route(session, stanza),
            unacknowledged: (session, stanzas, sentAt) => router.unacknowledged(session, stanzas, sentAt),
            unbound: (session) => router.unbound(session),
            event: async (local, data) => {
              await notifications.deviceEvent(local, data);
            },
          },
        })
      : undefined;

  // The sessions this server holds, XMPP's and the OSAP DAS's alike (both are the router's).
  const hooks: SessionHooks = {
    held: () => router.held(),
    lost: (sessions) => router.lost(sessions),
    dead: (servers) => {
      router.dead(servers);
      outbox.dead(servers);
    },
  };
  const online = new OnlineSessions(db, config.id, notifications, hooks, logger.child({ module: 'online' }), {
    ...DEFAULT_ONLINE_SESSION_OPTIONS,
    ...options.onlineSessions,
  });
  router.trackSessions(online);
  const credentials = new CredentialCache(db);
  const clusterHandlers = bus && {
    ...router.cluster(bus, credentials),
    // A client resumes elsewhere a session this server issued the id of: it ends here, its hand-back stored first.
    resume: async (local: string, previd: string) => {
      const ended = c2s?.abandonResumable(previd, local) ?? false;
      if (ended) await offline.settled();
      return ended;
    },
  };
  if (bus) credentials.announceChanges((local) => bus.changed({ credentials: [local] }));
  let expiry: NodeJS.Timeout | undefined;
  const context: MessageServerContext = {
    domain: options.domain,
    config,
    accountServerUrl: options.accountServerUrl,
    db,
    credentials,
    logger,
    outbox,
    accountServerTokenDigest: tokenDigest(config.credentials.accountServer.token),
    router,
    shareKeyIterations,
    applicationServers: applicationServers.map((a) => ({
      name: a.name,
      jid: a.jid,
      appid: a.credentials.appid,
      tokenDigest: tokenDigest(a.credentials.token),
    })),
  };
  const handshakeTimeoutMs = config.xmpp?.handshakeTimeoutMs;
  const c2s =
    config.xmpp && options.tls
      ? createC2sServer({
          connections,
          ...(handshakeTimeoutMs !== undefined ? { handshakeTimeoutMs } : {}),
          ...(config.xmpp.maxResourcesPerAccount !== undefined
            ? { maxResourcesPerAccount: config.xmpp.maxResourcesPerAccount }
            : {}),
          domain: options.domain,
          credentials: context.credentials,
          tls: options.tls,
          router,
          logger: logger.child({ module: 'c2s' }),
          limits: { ...config.xmpp.streamManagement, ...options.c2sLimits },
          passwords: new GuessPolicy('password', guessing.passwords, db, options.now),
          // XEP-0198: a session this server did not issue the id of is ended where it waits (decision 0024).
          ...(bus
            ? {
                resumeElsewhere: async (previd: string, username: string) => {
                  const servers = new Set(router.sessions.remote(username).map((r) => r.server));
                  await Promise.all([...servers].map((server) => bus.resume(server, username, previd)));
                },
              }
            : {}),
          // Every server of the cluster answers an unknown user the same salt, or comparing two tells who exists.
          ...(options.cluster
            ? {
                unknownUserKey: Buffer.from(clusterKey(options.cluster.secret, 'scram unknown users'), 'hex'),
              }
            : {}),
        })
      : undefined;

  // Federation (clause 8.5): stanzas to other ASs leave through the s2s engine, theirs arrive at the router.
  const s2s =
    config.xmpp?.s2sPort !== undefined && options.tls
      ? new S2sServer({
          domains: [options.domain],
          tls: options.tls,
          ca: options.ca,
          router,
          logger: logger.child({ module: 's2s' }),
          routes: options.federation?.routes ?? {},
          // Keys only need to verify while a stream is being set up, but on any message server of the AS: the peer
          // checks a key with whichever of them its route to our domain reaches (decision 0024).
          dialbackSecret:
            config.xmpp.dialbackSecret ??
            (options.cluster ? clusterKey(options.cluster.secret, 'xmpp dialback') : randomSecret()),
          limits: options.federation?.limits,
          connections,
        })
      : undefined;
  if (s2s) router.federate(s2s);

  // OSAP device access: the LBS beside c2s, on the accounts it authenticates (decision 0020).
  const lbs =
    config.osap && options.tls
      ? new LbsServer({
          config: config.osap.lbs,
          tls: options.tls,
          connections,
          logger: logger.child({ module: 'osap-lbs' }),
          deps: {
            offer: { protocolType: config.osap.protocol.type, protocolGroup: config.osap.protocol.group },
            store: new LbsStore(db, shareKeyIterations),
            codes: new GuessPolicy('osapcode', guessing.osapCodes, db, options.now),
            das: new DasDirectory(
              config.osap.das,
              options.dasProbe ??
                reachableDasProbe(
                  das && dasListener
                    ? { host: dasListener.host, port: dasListener.port, load: () => das.load }
                    : undefined,
                ),
            ),
            logger: logger.child({ module: 'osap-lbs' }),
          },
        })
      : undefined;

  const routes = [
    message1Route(context),
    message2Route(context),
    message3Route(context),
    message4Route(context),
    message5Route(context),
    message6Route(context),
    message12and13Route(context),
  ];
  const admin = adminRoutes(context, Date.now(), s2s);
  const app = createService({
    logger,
    tls: options.tls,
    admit: (socket) => connections.admit(socket, 'https'),
    ...(handshakeTimeoutMs !== undefined ? { handshakeTimeoutMs } : {}),
    // Messages 12–13 carry up to 65 536 characters of data, percent-encoded.
    bodyLimit: 1024 * 1024,
    ready: async () => (await db.query('SELECT 1')).rowCount === 1,
    openapi: () =>
      openApiDocument(
        { title: `IRSP message server of ${options.domain}`, version: '1' },
        describeRoutes(routes),
        admin.map((a) => a.call),
      ),
  });
  for (const route of routes) route.register(app);
  // What the operator console plots (decision 0023), for any Prometheus too.
  gaugeOnScrape(app, {
    name: 'irsp_xmpp_sessions',
    help: 'XMPP sessions bound on this message server',
    read: async () => [{ labels: {}, value: [...router.sessions.keys()].length }],
  });
  gaugeOnScrape(app, {
    name: 'irsp_outbox_backlog',
    help: "Messages waiting in the AS's outbox, by receiver (an application server's name, or the account server)",
    labelNames: ['target'],
    read: async () =>
      (await outboxBacklog(db)).outbox.map((o) => ({ labels: { target: o.target }, value: o.count })),
  });
  // Operators' passwords are throttled as accounts' are, in a scope of their own (decision 0010).
  const operators = new OperatorCheck(
    options.operators ?? [],
    new GuessPolicy('operator', guessing.passwords, db, options.now),
  );
  serveAdmin(
    app,
    (request) => operators.check(request.headers.authorization, addressSource(request.ip)),
    admin,
  );

  return {
    app,
    context,
    async listen(listen = config.listen) {
      await app.listen({ host: listen.host, port: listen.port });
      await outbox.start();
      // Expired offline messages of accounts that never log in again are swept hourly.
      expiry = setInterval(() => {
        offline.expire().catch((error: unknown) => logger.error({ err: error }, 'offline expiry failed'));
      }, 3_600_000);
      expiry.unref();
      const address = app.server.address();
      const ports: ListeningPorts = {
        http: typeof address === 'object' && address ? address.port : listen.port,
      };
      // s2s first: the sessions held before a crash are reported offline to other ASs too, before any login here.
      if (s2s && config.xmpp?.s2sPort !== undefined)
        ports.s2s = await s2s.listen(config.xmpp.s2sPort, config.xmpp.host);
      await online.start();
      if (bus && clusterHandlers) {
        // Listening first, then the registry read: a login announced in between is not missed.
        await bus.start(clusterHandlers);
        await router.readRegistry();
      }
      if (c2s && config.xmpp) {
        ports.c2s = await c2s.listen(config.xmpp.c2sPort, config.xmpp.host);
        if (config.xmpp.directTlsPort !== undefined) {
          ports.directTls = await c2s.listenDirectTls(config.xmpp.directTlsPort, config.xmpp.host);
        }
        if (config.xmpp.plainPort !== undefined) {
          ports.plain = await c2s.listenPlain(config.xmpp.plainPort, config.xmpp.host);
        }
        if (config.xmpp.websocketPort !== undefined) {
          const { websocketPort, host } = config.xmpp;
          ports.websocket = await c2s.listenWebSocket(websocketPort, host, XMPP_WEBSOCKET_PATH);
        }
      }
      if (lbs && config.osap) ports.lbs = await lbs.listen(config.osap.lbs.port, config.osap.lbs.host);
      if (das && dasListener) ports.das = await das.listen(dasListener.port, dasListener.host);
      return ports;
    },
    async close() {
      clearInterval(expiry);
      await lbs?.close();
      await das?.close();
      await c2s?.close();
      // The logouts of the sessions just closed (Messages 11) are written before the lease is given up.
      await online.stop();
      await bus?.close();
      await s2s?.close();
      // What ended sessions handed back (XEP-0198) is stored before the database goes.
      await offline.settled();
      await outbox.stop();
      await app.close();
      await client.close();
    },
  };
}

/** A key of one use derived from the cluster's secret: every message server of the AS derives the same. */
function clusterKey(secret: string, use: string): string {
  return createHmac('sha256', secret).update(use).digest('hex');
}
