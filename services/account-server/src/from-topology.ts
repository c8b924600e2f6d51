/** The account server as the topology describes it: its database, certificate and the ASs it serves. */
import { accountServerCorsOrigins, databaseFor, serverTls, trustedCa, type Topology } from '@irsp/config';
import type { Logger } from '@irsp/http';
import { openDb, withOwnedDb, type Db, type DbOptions } from '@irsp/store';
import { buildAccountServer, type AccountServer } from './build.js';

export async function accountServerFromTopology(
  topology: Topology,
  logger: Logger,
  openDatabase: (options: DbOptions) => Promise<Db> = openDb,
): Promise<AccountServer> {
  const config = topology.accountServer;
  const db = await openDatabase(databaseFor(topology, config.database));
  return withOwnedDb(db, async () =>
    buildAccountServer({
      autonomousSystems: topology.autonomousSystems,
      db,
      logger,
      tls: await serverTls(topology, {
        name: 'account-server',
        url: config.url,
        listenHost: config.listen.host,
        tls: config.tls,
      }),
      ca: await trustedCa(topology),
      http: topology.http,
      guessing: topology.guessing,
      operators: topology.operators,
      url: config.url,
      ...(config.console ? { consoleSampleIntervalMs: config.console.sampleIntervalMs } : {}),
      reconcile: { intervalMs: config.reconcileIntervalMs },
      corsOrigins: accountServerCorsOrigins(topology),
    }),
  );
}
