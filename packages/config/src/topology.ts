/**
 * The IRSP topology file: every AS with its domain, message servers and application servers, the one
 * account server, credentials, TLS and databases. One file drives `pnpm start`, docker-compose and a cloud
 * deployment of a single service (which reads only its own entry and the addresses of its peers).
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { guessingSchema } from './guessing.js';
import { osapSchema } from './osap.js';

// Coerced so that `port: ${PORT}` (a string after substitution) is accepted.
const port = z.coerce.number().int().min(0).max(65535);
const host = z.string().min(1).max(253);
const httpsUrl = z
  .string()
  .url()
  .refine((u) => u.startsWith('https://'), 'must be an https:// URL (RFC 2818)');
/** A web origin as a browser sends it in `Origin`: `https://host[:port]`, nothing after. */
const webOrigin = z
  .string()
  .url()
  .refine((u) => /^https:\/\//.test(u) && new URL(u).origin === u, 'must be an origin: https://host[:port]');
const uriPath = z.string().regex(/^\/[A-Za-z0-9._~!$&'()*+,;=:@/%-]*$/, 'must be an absolute path');
const domain = z
  .string()
  .regex(
    /^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/,
    'lower-case DNS name',
  );
const schemaName = z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'SQL identifier');

/** Credentials a caller presents: `appid` and `token` (clause 8.2: "pre-assigned … to authenticate"). */
export const credentialSchema = z.object({
  appid: z.string().regex(/^[A-Za-z0-9._~-]{1,128}$/),
  token: z.string().min(16, 'token must be at least 16 characters').max(512),
});
export type Credential = z.infer<typeof credentialSchema>;

export const listenSchema = z.object({ host: host.default('127.0.0.1'), port });

/** Certificate files of one server (production); the local CA mode creates them instead. */
const certFilesSchema = z.object({ cert: z.string().min(1), key: z.string().min(1) });

const databaseSchema = z.object({
  /** postgres://… ; absent → the embedded PGlite under `dataDir/<schema>` */
  url: z.string().startsWith('postgres').optional(),
  schema: schemaName,
});

export const accountServerSchema = z.object({
  /** Base URL other servers use to reach it (Message 7). */
  url: httpsUrl,
  listen: listenSchema,
  database: databaseSchema.default({ schema: 'account_server' }),
  tls: certFilesSchema.optional(),
  /** How often pending or removing accounts are reconciled with their message server (ms). */
  reconcileIntervalMs: z.number().int().min(100).default(30_000),
  /**
   * Browser pages on other origins allowed to call the client account API (CORS), e.g. the RAC served by a
   * smart-lock application server. Absent: the origins of the application servers that run `smartlock`.
   */
  cors: z.object({ origins: z.array(webOrigin).max(100) }).optional(),
  /** The operator console at `/console` (decision 0023): how often it samples every service's metrics (ms). */
  console: z.object({ sampleIntervalMs: z.number().int().min(100).max(600_000).default(10_000) }).optional(),
});

/** Where a message server serves XMPP over WebSocket on `xmpp.websocketPort` (the usual path, as in Prosody). */
export const XMPP_WEBSOCKET_PATH = '/xmpp-websocket';

export const messageServerSchema = z.object({
  id: z.string().regex(/^[a-z0-9-]{1,32}$/),
  /** Base URL of the admin API (server address of clause 3.1.11, as https URL). */
  url: httpsUrl,
  listen: listenSchema,
  tls: certFilesSchema.optional(),
  /** The push service URI of Messages 12 and 13. */
  pushUri: uriPath.default('/push'),
  xmpp: z
    .object({
      host: host.default('127.0.0.1'),
      c2sPort: port,
      directTlsPort: port.optional(),
      /**
       * c2s without TLS on `host`, for a TLS-terminating proxy in front of the server: no STARTTLS, SCRAM only (no
       * PLAIN). Must only be reachable from the proxy.
       */
      plainPort: port.optional(),
      /** XMPP over WebSocket (RFC 7395): `wss://host:port/xmpp-websocket`, HTTPS only. */
      websocketPort: port.optional(),
      /** XMPP server-to-server (RFC 6120 §13): federation with the message servers of other ASs (clause 8.5). */
      s2sPort: port.optional(),
      /**
       * Server dialback key secret (XEP-0185). Every message server of one AS must share it; absent, one derived from
       * the AS's `cluster.secret`, or without a cluster a random one per process (enough for a single message server).
       */
      dialbackSecret: z.string().min(16, 'dialbackSecret must be at least 16 characters').optional(),
      /**
       * Connections held at once by this message server, XMPP and HTTPS listeners together (sockets, from accept()
       * on). Default and ceiling: the process's open-file limit less a reserve (a tenth, 256–1 024).
       */
      maxConnections: z.coerce.number().int().min(1).optional(),
      /** Time for a TLS handshake and a WebSocket upgrade request on the XMPP listeners and the admin API (ms). */
      handshakeTimeoutMs: z.number().int().min(100).max(120_000).optional(),
      /** Resources one account may bind at once on this message server (RFC 6120 §7.6.2.1); default 32. */
      maxResourcesPerAccount: z.number().int().min(1).max(10_000).optional(),
      /** XEP-0198 stream management on c2s; defaults in @irsp/xmpp (docs/configuration.md). */
      streamManagement: z
        .object({
          /** How long a session whose connection was lost waits to be resumed (ms); 0: no resumption. */
          resumptionTimeoutMs: z.number().int().min(0).max(86_400_000).optional(),
          /** Stanzas sent and not acknowledged above which a client is cut off. */
          maxUnackedStanzas: z.number().int().min(1).max(100_000).optional(),
          /** The server asks for an ack after this many stanzas… */
          ackRequestStanzas: z.number().int().min(1).max(100_000).optional(),
          /** …or after this long with output unacknowledged (ms). */
          ackRequestMs: z.number().int().min(100).max(3_600_000).optional(),
        })
        .strict()
        .optional(),
    })
    .optional(),
  /**
   * How long this server's record of who is online holds without a renewal (renewed every third of it): when the
   * server dies and does not come back, another message server of the AS reports its devices offline (Message 11)
   * and its sessions unavailable this long after the last renewal (ms; default 30 000).
   */
  sessionLeaseMs: z.number().int().min(300).max(3_600_000).optional(),
  /** OSAP device access: the LBS this message server runs beside c2s, and the DAS instances (osap.ts). */
  osap: osapSchema.optional(),
  credentials: z.object({
    /** What the account server presents to this message server in Messages 1–6. */
    accountServer: credentialSchema,
    /** What this message server presents to the account server in Message 7. */
    toAccountServer: credentialSchema,
  }),
});

const applicationServerName = z.string().regex(/^[a-z0-9-]{1,32}$/);
/**
 * An application's name (services/application-server/src/applications says which exist; the server refuses to
 * start with one it does not have). It names the application's migration ledger too, so it is an identifier.
 */
const applicationName = z.string().regex(/^[a-z][a-z0-9_]{0,31}$/);
const appid = z.string().regex(/^[A-Za-z0-9._~-]{1,128}$/);
/** A key shared with one peer or third party for HMAC-SHA256 signatures; write it as `${ENV}`, not in the file. */
const signingKey = z.string().min(32, 'key must be at least 32 characters').max(512);

/** Where an application server serves Messages 14–15 from other ASs when `serviceUris.peerExchange` is not set. */
export const DEFAULT_PEER_EXCHANGE_URI = '/peer/exchange';

/**
 * An application server of another AS that this one exchanges Messages 14–15 with (clause 8.6, our arrangement:
 * docs/decisions/0006-cross-as-exchange.md). `appid` is what the peer presents, bound to `as`.
 */
export const peerSchema = z.object({
  name: applicationServerName,
  as: domain,
  url: httpsUrl,
  /** The peer's service URI for Messages 14–15 from other ASs. */
  exchangeUri: uriPath.default(DEFAULT_PEER_EXCHANGE_URI),
  appid,
  key: signingKey,
  /** Whether the default application pushes what this peer sends on to the user or device (clause 8.7's path). */
  push: z.boolean().default(false),
});
export type PeerConfig = z.infer<typeof peerSchema>;

function isAddressOrCidr(value: string): boolean {
  const [address, prefix, ...rest] = value.split('/');
  const family = isIP(address ?? '');
  if (family === 0 || rest.length > 0) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}

/** A third party (IRSP external application server) the gateway application talks to (clause 8.8, Table 8). */
export const thirdPartySchema = z.object({
  name: applicationServerName,
  /** What the third party presents in Table 8's `appid`. */
  appid,
  /** Shared with the third party, for its requests and for our webhooks. */
  key: signingKey,
  /** Where Messages 8–11 and 14–15 the gateway receives are posted as signed JSON. */
  webhookUrl: httpsUrl,
  allow: z.object({
    /** Source addresses it may call from (an address or CIDR, IPv4 or IPv6). */
    addresses: z.array(z.string().refine(isAddressOrCidr, 'must be an IP address or CIDR')).min(1),
    /** The messages its requests may become: 12–13 (push), 14–15 (exchange). */
    messages: z.array(z.union([z.literal(12), z.literal(13), z.literal(14), z.literal(15)])).default([]),
    /** Application servers of the AS it may exchange with (Messages 14–15). */
    targets: z.array(applicationServerName).default([]),
  }),
  /** The received messages it is sent. */
  forward: z
    .array(z.union([z.literal(8), z.literal(9), z.literal(10), z.literal(11), z.literal(14), z.literal(15)]))
    .default([]),
});
export type ThirdPartyConfig = z.infer<typeof thirdPartySchema>;

export const applicationServerSchema = z.object({
  name: applicationServerName,
  url: httpsUrl,
  listen: listenSchema,
  tls: certFilesSchema.optional(),
  /** Its XMPP address in the AS, e.g. `smartlock.as1.irsp.test`. */
  jid: z.string().min(1),
  database: databaseSchema.optional(),
  /** What it presents to its message server (Messages 12–13) and to peers (14–15). */
  credentials: credentialSchema,
  /** Whether it asks for devices' online status (clause 8.3.2: Messages 10–11 go to those that do). */
  deviceStatus: z.boolean().default(true),
  /**
   * Whether it takes the events of OSAP devices as Message 9 (default true): such a device names no application
   * server, so its events go to every one that does (docs/decisions/0022-osap-das.md).
   */
  deviceEvents: z.boolean().optional(),
  serviceUris: z
    .object({
      userUpload: uriPath.default('/user/upload'),
      deviceUpload: uriPath.default('/device/upload'),
      deviceStatus: uriPath.default('/device/status'),
      exchange: uriPath.default('/exchange'),
      /** Messages 14–15 from application servers of other ASs (default DEFAULT_PEER_EXCHANGE_URI). */
      peerExchange: uriPath.optional(),
    })
    .prefault({}),
  /** Application servers of other ASs it exchanges Messages 14–15 with (clause 8.6). */
  peers: z.array(peerSchema).optional(),
  /**
   * The applications it runs, in order (services/application-server/src/applications): by default the recorder,
   * and the gateway when `gateway` is configured.
   */
  applications: z.array(applicationName).min(1).optional(),
  /** The third-party gateway application (clause 8.8). */
  gateway: z.object({ thirdParties: z.array(thirdPartySchema).min(1) }).optional(),
  /** The smart-lock application (ISO/IEC 14543-5-104). */
  smartlock: z
    .object({
      /** The application server of the AS whose gateway carries the TPSPs' traffic (clause 6.6 through 8.8). */
      gateway: applicationServerName,
    })
    .optional(),
});

/**
 * Several message servers per AS on one bus (docs/decisions/0024-cluster-on-nats.md). Absent: each message server
 * works alone (one per AS).
 */
export const clusterSchema = z
  .object({
    /** The NATS servers of the AS (`nats://host:port`), tried in turn. */
    nats: z
      .array(z.string().regex(/^(nats|tls):\/\/[A-Za-z0-9.-]+(:\d{1,5})?$/, 'must be nats://host:port'))
      .min(1),
    /**
     * Shared by the AS's message servers: keys the SCRAM salts answered for unknown users (so all answer alike) and,
     * without `xmpp.dialbackSecret`, the dialback keys of s2s.
     */
    secret: z.string().min(32, 'secret must be at least 32 characters'),
  })
  .strict();

export const autonomousSystemSchema = z.object({
  domain,
  /** The database the message servers of this AS share (clause 7.2: several per AS). */
  database: databaseSchema.optional(),
  cluster: clusterSchema.optional(),
  messageServers: z.array(messageServerSchema).min(1),
  applicationServers: z.array(applicationServerSchema).default([]),
});

/**
 * A person who may call the admin API of the account server and the message servers (HTTP Basic `name:password`).
 * Only the password's hash is written here (`scram-sha-256$…`, hashPassword of @irsp/credentials).
 */
export const operatorSchema = z.object({
  name: z.string().regex(/^[A-Za-z0-9._~-]{1,64}$/),
  passwordHash: z
    .string()
    .regex(/^scram-sha-256\$\d+\$[^$]+\$[^$]+\$[^$]+$/, 'must be a scram-sha-256$… hash'),
});
export type OperatorConfig = z.infer<typeof operatorSchema>;

export const topologySchema = z
  .object({
    tls: z
      .discriminatedUnion('mode', [
        /** The embedded default: a local CA and server certificates created under `dir` on first start. */
        z.object({ mode: z.literal('local'), dir: z.string().default('.irsp/tls') }),
        /** Production: each server names its certificate files; `ca` is the CA bundle peers are checked with. */
        z.object({ mode: z.literal('files'), ca: z.string().min(1) }),
      ])
      .default({ mode: 'local', dir: '.irsp/tls' }),
    database: z
      .object({
        url: z.string().startsWith('postgres').optional(),
        dataDir: z.string().default('.irsp/data'),
      })
      .default({ dataDir: '.irsp/data' }),
    /** How servers send messages to each other: POST form bodies by default, GET query strings when asked. */
    http: z
      .object({
        method: z.enum(['POST', 'GET']).default('POST'),
        connectTimeoutMs: z.number().int().min(1).default(5_000),
        requestTimeoutMs: z.number().int().min(1).default(10_000),
      })
      .default({ method: 'POST', connectTimeoutMs: 5_000, requestTimeoutMs: 10_000 }),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    accountServer: accountServerSchema,
    autonomousSystems: z.array(autonomousSystemSchema).min(1),
    /**
     * XMPP federation (clause 8.5). The ASs of this file reach each other at their message servers' URL host and
     * `xmpp.s2sPort`; `routes` adds or overrides domains of other XMPP servers (e.g. a partner's AS); any other
     * domain is found by DNS SRV `_xmpp-server._tcp` (RFC 6120 §3.2).
     */
    federation: z
      .object({
        routes: z.record(domain, z.array(z.object({ host, port })).min(1)).default({}),
        /** How long a stanza to another AS may wait for its stream before it bounces (ms). */
        bounceTimeoutMs: z.number().int().min(100).default(30_000),
        /** An outgoing stream with nothing to send for this long is closed and its route forgotten (ms). */
        outgoingIdleMs: z.number().int().min(1_000).optional(),
        /** Dialback checks other servers may have us run at once, all incoming streams together. */
        maxPendingDialbacks: z.number().int().min(1).optional(),
      })
      .default({ routes: {}, bounceTimeoutMs: 30_000 }),
    /** Limits on guessing passwords and verification codes (guessing.ts; decision 0010). */
    guessing: guessingSchema,
    /** Who may call the admin API; none: every admin call is refused (401). */
    operators: z.array(operatorSchema).default([]),
  })
  .superRefine((topology, ctx) => {
    const domains = new Set<string>();
    for (const [i, as] of topology.autonomousSystems.entries()) {
      if (domains.has(as.domain))
        ctx.addIssue({
          code: 'custom',
          path: ['autonomousSystems', i, 'domain'],
          message: 'duplicate AS domain',
        });
      domains.add(as.domain);
      if (as.cluster && (as.database?.url ?? topology.database.url) === undefined)
        ctx.addIssue({
          code: 'custom',
          path: ['autonomousSystems', i, 'cluster'],
          message:
            'a cluster needs the AS database on PostgreSQL (database.url or DATABASE_URL): the embedded one is one process',
        });
      // A peer checks a key with whichever message server of the AS it reaches (decision 0024).
      if (as.cluster && new Set(as.messageServers.map((m) => m.xmpp?.dialbackSecret)).size > 1)
        ctx.addIssue({
          code: 'custom',
          path: ['autonomousSystems', i, 'messageServers'],
          message: 'the message servers of a cluster must share xmpp.dialbackSecret (or all leave it out)',
        });
      const ids = new Set(as.messageServers.map((m) => m.id));
      if (ids.size !== as.messageServers.length)
        ctx.addIssue({
          code: 'custom',
          path: ['autonomousSystems', i, 'messageServers'],
          message: 'duplicate message server id',
        });
      const names = new Set(as.applicationServers.map((a) => a.name));
      if (names.size !== as.applicationServers.length)
        ctx.addIssue({
          code: 'custom',
          path: ['autonomousSystems', i, 'applicationServers'],
          message: 'duplicate application server name',
        });
      as.applicationServers.forEach((server, j) =>
        checkApplicationServer(server, as.domain, as.applicationServers, (path, message) =>
          ctx.addIssue({
            code: 'custom',
            path: ['autonomousSystems', i, 'applicationServers', j, ...path],
            message,
          }),
        ),
      );
    }
    if (duplicates(topology.operators.map((o) => o.name)))
      ctx.addIssue({ code: 'custom', path: ['operators'], message: 'duplicate operator name' });
    const appids = new Map<string, string>();
    const claim = (appid: string, owner: string, path: (string | number)[]) => {
      const other = appids.get(appid);
      if (other !== undefined && other !== owner)
        ctx.addIssue({ code: 'custom', path, message: `appid ${appid} is also used by ${other}` });
      appids.set(appid, owner);
    };
    for (const [i, as] of topology.autonomousSystems.entries()) {
      for (const [j, ms] of as.messageServers.entries()) {
        const base = ['autonomousSystems', i, 'messageServers', j, 'credentials'];
        claim(ms.credentials.toAccountServer.appid, `message servers of ${as.domain}`, [
          ...base,
          'toAccountServer',
          'appid',
        ]);
      }
    }
    if (topology.tls.mode === 'files') {
      const needCert = (what: { tls?: unknown }, path: (string | number)[]) => {
        if (!what.tls)
          ctx.addIssue({
            code: 'custom',
            path,
            message: 'tls.cert and tls.key are required when tls.mode is files',
          });
      };
      needCert(topology.accountServer, ['accountServer', 'tls']);
      topology.autonomousSystems.forEach((as, i) => {
        as.messageServers.forEach((ms, j) =>
          needCert(ms, ['autonomousSystems', i, 'messageServers', j, 'tls']),
        );
        as.applicationServers.forEach((a, j) =>
          needCert(a, ['autonomousSystems', i, 'applicationServers', j, 'tls']),
        );
      });
    }
  });

type Issue = (path: (string | number)[], message: string) => void;

function duplicates(values: readonly string[]): boolean {
  return new Set(values).size !== values.length;
}

/** Peers of other ASs and third parties: each known once, and pointing at what exists. */
function checkApplicationServer(
  server: z.infer<typeof applicationServerSchema>,
  domain: string,
  servers: readonly z.infer<typeof applicationServerSchema>[],
  issue: Issue,
): void {
  const names = new Set(servers.map((s) => s.name));
  const uris = server.serviceUris;
  const peerExchange = uris.peerExchange ?? DEFAULT_PEER_EXCHANGE_URI;
  if ([uris.userUpload, uris.deviceUpload, uris.deviceStatus, uris.exchange].includes(peerExchange))
    issue(['serviceUris', 'peerExchange'], 'must differ from the other service URIs');
  const peers = server.peers ?? [];
  peers.forEach((peer, k) => {
    if (peer.as === domain)
      issue(['peers', k, 'as'], 'a peer is of another AS (application servers of the same AS need no entry)');
  });
  if (duplicates(peers.map((p) => `${p.name}@${p.as}`))) issue(['peers'], 'duplicate peer name in one AS');
  if (duplicates(peers.map((p) => p.appid))) issue(['peers'], 'duplicate peer appid');
  const applications = server.applications ?? [];
  if (duplicates(applications)) issue(['applications'], 'an application is named twice');
  if (server.applications !== undefined && server.gateway !== undefined && !applications.includes('gateway'))
    issue(['applications'], 'the gateway is configured but not among the applications');
  if (applications.includes('gateway') && server.gateway === undefined)
    issue(['gateway'], 'the gateway application needs a gateway section (its third parties)');
  const thirdParties = server.gateway?.thirdParties ?? [];
  if (duplicates(thirdParties.map((t) => t.name)))
    issue(['gateway', 'thirdParties'], 'duplicate third party name');
  if (duplicates(thirdParties.map((t) => t.appid)))
    issue(['gateway', 'thirdParties'], 'duplicate third party appid');
  thirdParties.forEach((thirdParty, k) =>
    thirdParty.allow.targets.forEach((target, l) => {
      if (!names.has(target) || target === server.name)
        issue(
          ['gateway', 'thirdParties', k, 'allow', 'targets', l],
          'must name another application server of the AS',
        );
    }),
  );
  if (server.smartlock !== undefined) {
    if (!applicationsOf(server).includes('smartlock'))
      issue(['smartlock'], 'the smartlock section needs the smartlock application');
    const gateway = servers.find((s) => s.name === server.smartlock!.gateway && s !== server);
    if (!gateway || !applicationsOf(gateway).includes('gateway'))
      issue(['smartlock', 'gateway'], 'must name another application server of the AS that runs the gateway');
    else if (!(gateway.gateway?.thirdParties ?? []).some((t) => t.allow.targets.includes(server.name)))
      issue(['smartlock', 'gateway'], 'none of its third parties may exchange with this application server');
  }
}

export type Topology = z.infer<typeof topologySchema>;
export type AccountServerConfig = Topology['accountServer'];
export type AutonomousSystemConfig = Topology['autonomousSystems'][number];
export type MessageServerConfig = AutonomousSystemConfig['messageServers'][number];
export type ClusterConfig = z.infer<typeof clusterSchema>;
export type ApplicationServerConfig = AutonomousSystemConfig['applicationServers'][number];

/** The applications a server runs: as configured, else the recorder and, when configured, the gateway. */
export function applicationsOf(server: ApplicationServerConfig): readonly string[] {
  return server.applications ?? ['recorder', ...(server.gateway ? ['gateway'] : [])];
}

/** Where a WebSocket client (RFC 7395) reaches a message server's XMPP, when it serves XMPP over WebSocket. */
export function xmppWebsocketUrl(server: MessageServerConfig): string | undefined {
  const xmpp = server.xmpp;
  if (xmpp?.websocketPort === undefined) return undefined;
  const host = xmpp.host.includes(':') ? `[${xmpp.host}]` : xmpp.host; // an IPv6 address (RFC 3986 §3.2.2)
  return `wss://${host}:${xmpp.websocketPort}${XMPP_WEBSOCKET_PATH}`;
}

/** The origins allowed to call the client account API from a browser (`accountServer.cors`, CORS). */
export function accountServerCorsOrigins(topology: Topology): readonly string[] {
  return (
    topology.accountServer.cors?.origins ??
    topology.autonomousSystems.flatMap((as) =>
      as.applicationServers
        .filter((server) => applicationsOf(server).includes('smartlock'))
        .map((server) => new URL(server.url).origin),
    )
  );
}
