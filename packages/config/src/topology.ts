/**
 * The IRSP topology file: every AS with its domain, message servers and application servers, the one
 * account server, credentials, TLS and databases. One file drives `pnpm start`, docker-compose and a cloud
 * deployment of a single service (which reads only its own entry and the addresses of its peers).
 */
import { z } from 'zod';

// Coerced so that `port: ${PORT}` (a string after substitution) is accepted.
const port = z.coerce.number().int().min(0).max(65535);
const host = z.string().min(1).max(253);
const httpsUrl = z
  .string()
  .url()
  .refine((u) => u.startsWith('https://'), 'must be an https:// URL (RFC 2818)');
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
});

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
      s2sPort: port.optional(),
    })
    .optional(),
  credentials: z.object({
    /** What the account server presents to this message server in Messages 1–6. */
    accountServer: credentialSchema,
    /** What this message server presents to the account server in Message 7. */
    toAccountServer: credentialSchema,
  }),
});

export const applicationServerSchema = z.object({
  name: z.string().regex(/^[a-z0-9-]{1,32}$/),
  url: httpsUrl,
  listen: listenSchema,
  tls: certFilesSchema.optional(),
  /** Its XMPP address in the AS, e.g. `smartlock.as1.irsp.test`. */
  jid: z.string().min(1),
  database: databaseSchema.optional(),
  /** What it presents to its message server (Messages 12–13) and to peers (14–15). */
  credentials: credentialSchema,
  serviceUris: z
    .object({
      userUpload: uriPath.default('/user/upload'),
      deviceUpload: uriPath.default('/device/upload'),
      deviceStatus: uriPath.default('/device/status'),
      exchange: uriPath.default('/exchange'),
    })
    .prefault({}),
});

export const autonomousSystemSchema = z.object({
  domain,
  /** The database the message servers of this AS share (clause 7.2: several per AS). */
  database: databaseSchema.optional(),
  messageServers: z.array(messageServerSchema).min(1),
  applicationServers: z.array(applicationServerSchema).default([]),
});

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
    }
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

export type Topology = z.infer<typeof topologySchema>;
export type AccountServerConfig = Topology['accountServer'];
export type AutonomousSystemConfig = Topology['autonomousSystems'][number];
export type MessageServerConfig = AutonomousSystemConfig['messageServers'][number];
export type ApplicationServerConfig = AutonomousSystemConfig['applicationServers'][number];
