/**
 * Our IRSP under test, in its own process so that /proc shows its CPU and memory alone: the account server and
 * the message server of the topology in argv[2], sharing one embedded database as `pnpm start` does
 * (services/all-in-one/src/start.ts), or, with IRSP_BENCH_DATABASE_URL, each on its own schema of that
 * PostgreSQL (names prefixed with IRSP_BENCH_SCHEMA_PREFIX, which the bench drops afterwards). Its `default`
 * application server is the load generator's stub, so it is not started; any other (the smart-lock one of the
 * unlock scenario) runs here.
 */
import { join } from 'node:path';
import { accountServerFromTopology } from '@irsp/account-server';
import { applicationServerFromTopology, type ApplicationServer } from '@irsp/application-server';
import { loadTopology, messageServerSchemaName } from '@irsp/config';
import { createLogger } from '@irsp/http';
import { messageServerFromTopology } from '@irsp/message-server';
import { openDb, openPgliteHost, type Db, type DbOptions } from '@irsp/store';

const topology = await loadTopology(process.argv[2]!);
const logger = createLogger({ name: 'irsp-bench', level: topology.logLevel });
const url = process.env['IRSP_BENCH_DATABASE_URL'];
const prefix = process.env['IRSP_BENCH_SCHEMA_PREFIX'] ?? 'bench_';
const host = url ? undefined : await openPgliteHost({ dataDir: join(topology.database.dataDir, 'irsp') });
const as = topology.autonomousSystems[0]!;
/** The message server's database, which the bench asks how many offline messages are committed. */
let messageServerDb: Db | undefined;
const openDatabase = async (o: DbOptions): Promise<Db> => {
  const db = host
    ? await host.db(o.schema)
    : // Pooled connections stay open (no idle timeout) so that the bench can read every backend's CPU.
      await openDb({ url, schema: `${prefix}${o.schema}`, poolMax: 10, idleTimeoutMs: 0 });
  if (o.schema === messageServerSchemaName(as)) messageServerDb = db;
  return db;
};
/** A cluster's second message server runs alone in its own process (IRSP_BENCH_MESSAGE_SERVER=ms2). */
const only = process.env['IRSP_BENCH_MESSAGE_SERVER'];
const accountServer = only
  ? undefined
  : await accountServerFromTopology(topology, logger.child({ service: 'account-server' }), openDatabase);
await accountServer?.listen(topology.accountServer.listen);
const server = only ? as.messageServers.find((m) => m.id === only)! : as.messageServers[0]!;
const messageServer = await messageServerFromTopology(
  topology,
  as,
  server,
  logger.child({ service: 'message-server' }),
  openDatabase,
);
await messageServer.listen(server.listen);
const applicationServers: ApplicationServer[] = [];
for (const app of as.applicationServers.filter((a) => a.name !== 'default' && !only)) {
  const running = await applicationServerFromTopology(
    topology,
    as,
    app,
    logger.child({ service: 'application-server', applicationServer: app.name }),
    openDatabase,
  );
  await running.listen(app.listen);
  applicationServers.push(running);
}

let stopping = false;
process.on('SIGTERM', () => {
  if (stopping) return;
  stopping = true;
  void (async () => {
    for (const app of applicationServers) await app.close();
    await messageServer.close();
    await accountServer?.close();
    await host?.close();
    // Exit normally (not by signal) so that --cpu-prof writes its profile.
    process.exit(0);
  })();
});
// Requests of the bench over IPC, each answered with one message:
// - 'gc': a full collection (node runs with --expose-gc), for the idle scenario's extra sample of live memory;
// - { offlineCount: owner }: the offline messages committed for `owner`, read by a statement of its own, so that
//   the offline scenario's window closes on rows in the database, not on the server's answer to a ping.
process.on('message', (message) => {
  if (message === 'gc') {
    globalThis.gc?.();
    process.send?.('gc-done');
    return;
  }
  const owner = (message as { offlineCount?: unknown } | null)?.offlineCount;
  if (typeof owner !== 'string' || !messageServerDb) return;
  void messageServerDb
    .query<{ n: number }>('SELECT count(*)::int AS n FROM offline_messages WHERE owner = $1', [owner])
    .then(
      (r) => process.send?.({ offlineCount: r.rows[0]!.n }),
      (error: Error) => process.send?.({ error: error.message }),
    );
});
process.send?.('ready');
