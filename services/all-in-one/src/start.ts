/**
 * A whole IRSP in one process: the account server, then every message server and application server of every
 * AS, each with its own embedded database (or schema on DATABASE_URL), as the topology says.
 */
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ALL_IN_ONE_DATABASE, loadTopology, otherEmbeddedLayout, type Topology } from '@irsp/config';
import { hashPassword, randomSecret } from '@irsp/credentials';
import { accountServerFromTopology } from '@irsp/account-server';
import { applicationServerFromTopology } from '@irsp/application-server';
import type { Logger } from '@irsp/http';
import { messageServerFromTopology } from '@irsp/message-server';
import { openDb, openPgliteHost, type Db, type DbOptions } from '@irsp/store';
import { defaultTopologyYaml } from './default-topology.js';
import { buildManifest, type Manifest } from './manifest.js';

export interface RunningIrsp {
  topology: Topology;
  manifest: Manifest;
  manifestPath: string;
  close(): Promise<void>;
}

async function writeAtomically(path: string, text: string, mode: number): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, text, { mode });
  await rename(temporary, path);
  await chmod(path, mode);
}

/** Where the default topology's operator password is kept (the topology has only its hash). */
const OPERATOR_FILE = 'operator.json';
const DEFAULT_OPERATOR = 'admin';

/** The topology file to run: the given one, or `.irsp/irsp.yaml`, written with fresh credentials if missing. */
export async function ensureTopologyFile(stateDir: string, given?: string): Promise<string> {
  if (given) return given;
  const path = join(stateDir, 'irsp.yaml');
  try {
    await readFile(path);
  } catch {
    const operator = { name: DEFAULT_OPERATOR, password: randomSecret() };
    await writeAtomically(join(stateDir, OPERATOR_FILE), `${JSON.stringify(operator)}\n`, 0o600);
    const passwordHash = await hashPassword(operator.password);
    await writeAtomically(
      path,
      defaultTopologyYaml({ name: operator.name, passwordHash }, undefined, undefined, stateDir),
      0o600,
    );
  }
  return path;
}

/** The operator `pnpm start` created, when the running topology still has it (for the manifest). */
async function createdOperator(
  stateDir: string,
  topology: Topology,
): Promise<{ name: string; password: string } | undefined> {
  let kept: unknown;
  try {
    kept = JSON.parse(await readFile(join(stateDir, OPERATOR_FILE), 'utf8'));
  } catch {
    return undefined;
  }
  const operator = kept as { name?: unknown; password?: unknown };
  if (typeof operator.name !== 'string' || typeof operator.password !== 'string') return undefined;
  if (!topology.operators.some((o) => o.name === operator.name)) return undefined;
  return { name: operator.name, password: operator.password };
}

export async function startIrsp(options: {
  topologyFile: string;
  stateDir: string;
  logger: Logger;
}): Promise<RunningIrsp> {
  const topology = await loadTopology(options.topologyFile);
  const { logger } = options;
  const running: { close(): Promise<void> }[] = [];
  const close = async () => {
    for (const service of running.reverse()) await service.close();
  };
  // One embedded PostgreSQL for every service of the process, a schema each: a PGlite instance costs
  // hundreds of MB and seconds to open (packages/store/src/db.ts).
  let openDatabase: (o: DbOptions) => Promise<Db> = openDb;
  if (!topology.database.url) {
    const other = otherEmbeddedLayout(topology, 'together');
    if (other) logger.warn(other);
    const host = await openPgliteHost({ dataDir: join(topology.database.dataDir, ALL_IN_ONE_DATABASE) });
    running.push(host);
    openDatabase = (o) => (o.url ? openDb(o) : host.db(o.schema));
  }
  try {
    const accountServer = await accountServerFromTopology(
      topology,
      logger.child({ service: 'account-server' }),
      openDatabase,
    );
    running.push(accountServer);
    await accountServer.listen(topology.accountServer.listen);
    for (const as of topology.autonomousSystems) {
      for (const server of as.messageServers) {
        const child = logger.child({
          service: 'message-server',
          domain: as.domain,
          messageServer: server.id,
        });
        const messageServer = await messageServerFromTopology(topology, as, server, child, openDatabase);
        running.push(messageServer);
        await messageServer.listen(server.listen);
      }
      for (const server of as.applicationServers) {
        const child = logger.child({
          service: 'application-server',
          domain: as.domain,
          applicationServer: server.name,
        });
        const applicationServer = await applicationServerFromTopology(
          topology,
          as,
          server,
          child,
          openDatabase,
        );
        running.push(applicationServer);
        await applicationServer.listen(server.listen);
      }
    }
  } catch (error) {
    await close();
    throw error;
  }
  const manifest = buildManifest(topology, await createdOperator(options.stateDir, topology));
  const manifestPath = join(options.stateDir, 'manifest.json');
  await writeAtomically(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`, 0o600);
  return { topology, manifest, manifestPath, close };
}

export function summary(irsp: RunningIrsp): string {
  const lines = [
    'IRSP running (Ctrl-C stops it)',
    `  account server      ${irsp.manifest.accountServer.url}`,
    `  operator console    ${irsp.manifest.accountServer.consoleUrl} (log in as the manifest's operator)`,
    ...irsp.manifest.autonomousSystems.flatMap((as) => [
      `  AS ${as.domain}`,
      ...as.messageServers.flatMap((ms) => [
        `    message server ${ms.id}       ${ms.url}`,
        ...xmppListeners(ms.xmpp),
        ...osapListeners(ms.osap),
      ]),
      ...as.applicationServers.map((app) => `    application server ${app.name} ${app.url}  (${app.jid})`),
    ]),
    `  CA certificate      ${irsp.manifest.caCert}`,
    `  manifest            ${irsp.manifestPath} (endpoints and credentials for clients)`,
  ];
  return lines.join('\n');
}

type OsapEndpoints = NonNullable<Manifest['autonomousSystems'][number]['messageServers'][number]['osap']>;

/** The OSAP LBS and DAS of a message server, and how to attach a simulated device to them. */
function osapListeners(osap: OsapEndpoints | undefined): string[] {
  if (!osap) return [];
  return [
    `      OSAP LBS (TLS)       ${osap.lbs.host}:${osap.lbs.port}`,
    ...(osap.dasListener
      ? [
          `      OSAP DAS (MQTT, TLS) ${osap.dasListener.host}:${osap.dasListener.port}`,
          '      a simulated OSAP device: pnpm osap:device --serial cam1 --code cam1-code --register --event hello',
        ]
      : []),
  ];
}

type XmppEndpoints = NonNullable<Manifest['autonomousSystems'][number]['messageServers'][number]['xmpp']>;

/** Every XMPP listener of a message server, so that a user knows where to log in (README: 5222, 5223…). */
function xmppListeners(xmpp: XmppEndpoints | undefined): string[] {
  if (!xmpp) return [];
  const at = (port: number) => `${xmpp.host}:${port}`;
  return [
    `      XMPP c2s STARTTLS    ${at(xmpp.c2sPort)}`,
    ...(xmpp.directTlsPort !== undefined ? [`      XMPP c2s TLS         ${at(xmpp.directTlsPort)}`] : []),
    ...(xmpp.plainPort !== undefined ? [`      XMPP c2s plain       ${at(xmpp.plainPort)}`] : []),
    ...(xmpp.websocketUrl ? [`      XMPP over WebSocket  ${xmpp.websocketUrl}`] : []),
    ...(xmpp.s2sPort !== undefined ? [`      XMPP s2s             port ${xmpp.s2sPort}`] : []),
  ];
}
