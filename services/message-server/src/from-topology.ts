/** A message server as the topology describes it: its database, certificate and peers. */
import {
  databaseFor,
  messageServerSchemaName,
  s2sRoutes,
  serverTls,
  trustedCa,
  type AutonomousSystemConfig,
  type MessageServerConfig,
  type Topology,
} from '@irsp/config';
import type { Logger } from '@irsp/http';
import { openDb, withOwnedDb, type Db, type DbOptions } from '@irsp/store';
import { buildMessageServer, type MessageServer } from './build.js';

export async function messageServerFromTopology(
  topology: Topology,
  as: AutonomousSystemConfig,
  server: MessageServerConfig,
  logger: Logger,
  openDatabase: (options: DbOptions) => Promise<Db> = openDb,
): Promise<MessageServer> {
  const db = await openDatabase(
    databaseFor(topology, { url: as.database?.url, schema: messageServerSchemaName(as) }),
  );
  return withOwnedDb(db, async () => {
    const tls = await serverTls(topology, {
      name: `message-server-${as.domain}-${server.id}`,
      url: server.url,
      listenHost: server.listen.host,
      dnsNames: [as.domain],
      tls: server.tls,
    });
    return buildMessageServer({
      domain: as.domain,
      config: server,
      accountServerUrl: topology.accountServer.url,
      db,
      logger,
      tls,
      ca: await trustedCa(topology),
      http: topology.http,
      guessing: topology.guessing,
      operators: topology.operators,
      applicationServers: as.applicationServers,
      ...(as.cluster ? { cluster: as.cluster } : {}),
      ...(server.sessionLeaseMs !== undefined ? { onlineSessions: { leaseMs: server.sessionLeaseMs } } : {}),
      federation: {
        routes: s2sRoutes(topology, as.domain),
        limits: {
          bounceTimeoutMs: topology.federation.bounceTimeoutMs,
          ...(topology.federation.outgoingIdleMs !== undefined
            ? { outgoingIdleMs: topology.federation.outgoingIdleMs }
            : {}),
          ...(topology.federation.maxPendingDialbacks !== undefined
            ? { maxPendingDialbacksTotal: topology.federation.maxPendingDialbacks }
            : {}),
        },
      },
    });
  });
}
