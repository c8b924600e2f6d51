/** Picking one service out of the topology, for a deployment that runs a single service. */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from './load.js';
import type {
  ApplicationServerConfig,
  AutonomousSystemConfig,
  MessageServerConfig,
  Topology,
} from './topology.js';

type Env = Record<string, string | undefined>;

export function findAs(topology: Topology, domain: string): AutonomousSystemConfig {
  const as = topology.autonomousSystems.find((candidate) => candidate.domain === domain);
  if (!as) throw new ConfigError(`no AS ${domain} in the topology`);
  return as;
}

/** The AS of `IRSP_AS` (or the only one). */
export function selectAs(topology: Topology, env: Env): AutonomousSystemConfig {
  if (env.IRSP_AS) return findAs(topology, env.IRSP_AS);
  if (topology.autonomousSystems.length === 1) return topology.autonomousSystems[0]!;
  throw new ConfigError('several ASs in the topology: set IRSP_AS to the domain of this service');
}

export function selectMessageServer(
  topology: Topology,
  env: Env,
): { as: AutonomousSystemConfig; server: MessageServerConfig } {
  const as = selectAs(topology, env);
  const id = env.IRSP_MESSAGE_SERVER;
  const server = id ? as.messageServers.find((m) => m.id === id) : as.messageServers[0];
  if (!server) throw new ConfigError(`no message server ${id} in AS ${as.domain}`);
  return { as, server };
}

export function selectApplicationServer(
  topology: Topology,
  env: Env,
): { as: AutonomousSystemConfig; server: ApplicationServerConfig } {
  const as = selectAs(topology, env);
  const name = env.IRSP_APPLICATION_SERVER;
  const server = name ? as.applicationServers.find((a) => a.name === name) : as.applicationServers[0];
  if (!server)
    throw new ConfigError(`no application server ${name ?? '(none configured)'} in AS ${as.domain}`);
  return { as, server };
}

/** `IRSP_LISTEN_HOST` / `PORT` override where a single deployed service listens (containers, PaaS). */
export function listenOverride(
  listen: { host: string; port: number },
  env: Env,
): { host: string; port: number } {
  const port = env.PORT ?? env.IRSP_LISTEN_PORT;
  if (port !== undefined && (!/^\d{1,5}$/.test(port) || Number(port) > 65535))
    throw new ConfigError(`PORT ${port} is not a port number`);
  return { host: env.IRSP_LISTEN_HOST ?? listen.host, port: port === undefined ? listen.port : Number(port) };
}

/** Where a service's embedded database lives, or its PostgreSQL URL. */
export function databaseFor(topology: Topology, own: { url?: string | undefined; schema: string }) {
  const url = own.url ?? topology.database.url;
  return url
    ? { url, schema: own.schema }
    : { dataDir: `${topology.database.dataDir}/${own.schema}`, schema: own.schema };
}

/** The database of `pnpm start`, which holds every service's schema: `<dataDir>/irsp`. */
export const ALL_IN_ONE_DATABASE = 'irsp';

/**
 * Services started one by one on the embedded database keep one PGlite each, `<dataDir>/<schema>`, while `pnpm
 * start` keeps all of them in one, `<dataDir>/irsp`: PGlite is one process's database, so the two cannot be the
 * same. What to tell an operator who finds the other layout's databases beside the ones being opened (accounts
 * made under one are not seen by the other); undefined when there are none, or on PostgreSQL.
 */
export function otherEmbeddedLayout(topology: Topology, started: 'alone' | 'together'): string | undefined {
  const dir = topology.database.dataDir;
  if (topology.database.url || !existsSync(dir)) return undefined;
  const found = readdirSync(dir).filter((name) =>
    started === 'alone' ? name === ALL_IN_ONE_DATABASE : name !== ALL_IN_ONE_DATABASE,
  );
  if (found.length === 0) return undefined;
  const others = found.map((name) => join(dir, name)).join(', ');
  const mine =
    started === 'alone' ? `${join(dir, '<schema>')} of each service` : join(dir, ALL_IN_ONE_DATABASE);
  return (
    `${others} ${found.length === 1 ? 'is an embedded database' : 'are embedded databases'} of ` +
    `${started === 'alone' ? 'pnpm start' : 'services started one by one'}; this uses ${mine}, so accounts ` +
    'made under one are not seen by the other. Set DATABASE_URL (PostgreSQL) for services that share one database.'
  );
}

export function messageServerSchemaName(as: AutonomousSystemConfig): string {
  return as.database?.schema ?? `ms_${as.domain.replace(/[^a-z0-9]/g, '_')}`.slice(0, 63);
}

export function applicationServerSchemaName(
  as: AutonomousSystemConfig,
  server: ApplicationServerConfig,
): string {
  return (
    server.database?.schema ??
    `app_${as.domain.replace(/[^a-z0-9]/g, '_')}_${server.name.replace(/-/g, '_')}`.slice(0, 63)
  );
}

/**
 * Where the message servers of `domain` reach other XMPP domains over s2s (clause 8.5): the other ASs of the
 * topology at their message servers' URL host and `xmpp.s2sPort`, then `federation.routes`, which win.
 */
export function s2sRoutes(
  topology: Topology,
  domain: string,
): Record<string, { host: string; port: number }[]> {
  const routes: Record<string, { host: string; port: number }[]> = {};
  for (const as of topology.autonomousSystems) {
    if (as.domain === domain) continue;
    const candidates = as.messageServers.flatMap((ms) =>
      ms.xmpp?.s2sPort === undefined ? [] : [{ host: new URL(ms.url).hostname, port: ms.xmpp.s2sPort }],
    );
    if (candidates.length > 0) routes[as.domain] = candidates;
  }
  return { ...routes, ...topology.federation.routes };
}
