/** An application server as the topology describes it. */
import {
  applicationServerSchemaName,
  databaseFor,
  serverTls,
  trustedCa,
  xmppWebsocketUrl,
  type ApplicationServerConfig,
  type AutonomousSystemConfig,
  type Topology,
} from '@irsp/config';
import type { Logger } from '@irsp/http';
import { openDb, withOwnedDb, type Db, type DbOptions } from '@irsp/store';
import { buildApplicationServer, type ApplicationServer } from './build.js';

export async function applicationServerFromTopology(
  topology: Topology,
  as: AutonomousSystemConfig,
  server: ApplicationServerConfig,
  logger: Logger,
  openDatabase: (options: DbOptions) => Promise<Db> = openDb,
): Promise<ApplicationServer> {
  const db = await openDatabase(
    databaseFor(topology, { url: server.database?.url, schema: applicationServerSchemaName(as, server) }),
  );
  return withOwnedDb(db, async () => {
    const tls = await serverTls(topology, {
      name: `application-server-${as.domain}-${server.name}`,
      url: server.url,
      listenHost: server.listen.host,
      dnsNames: [server.jid],
      tls: server.tls,
    });
    return buildApplicationServer({
      domain: as.domain,
      config: server,
      peers: as.applicationServers.filter((a) => a !== server),
      messageServers: as.messageServers.map((ms) => ({ url: ms.url, pushUri: ms.pushUri })),
      clientEndpoints: {
        accountServer: topology.accountServer.url,
        xmppWebsocket: as.messageServers.map(xmppWebsocketUrl).find((url) => url !== undefined),
      },
      ca: await trustedCa(topology),
      http: topology.http,
      db,
      logger,
      tls,
    });
  });
}
