/**
 * Our IRSP under test, in its own process so that /proc shows its CPU and memory alone: the account server and
 * the message server of the topology in argv[2], sharing one embedded database as `pnpm start` does
 * (services/all-in-one/src/start.ts), or, with IRSP_BENCH_DATABASE_URL, each on its own schema of that
 * PostgreSQL (names prefixed with IRSP_BENCH_SCHEMA_PREFIX, which the bench drops afterwards). Its application
 * server is the load generator's stub, so it is not started.
 */
import { join } from 'node:path';
import { accountServerFromTopology } from '@irsp/account-server';
import { loadTopology } from '@irsp/config';
import { createLogger } from '@irsp/http';
import { messageServerFromTopology } from '@irsp/message-server';
import { openDb, openPgliteHost, type Db, type DbOptions } from '@irsp/store';

const topology = await loadTopology(process.argv[2]!);
const logger = createLogger({ name: 'irsp-bench', level: topology.logLevel });
const url = process.env['IRSP_BENCH_DATABASE_URL'];
const prefix = process.env['IRSP_BENCH_SCHEMA_PREFIX'] ?? 'bench_';
const host = url ? undefined : await openPgliteHost({ dataDir: join(topology.database.dataDir, 'irsp') });
const openDatabase = (o: DbOptions): Promise<Db> =>
  host
    ? host.db(o.schema)
    : // Pooled connections stay open (no idle timeout) so that the bench can read every backend's CPU.
      openDb({ url, schema: `${prefix}${o.schema}`, poolMax: 10, idleTimeoutMs: 0 });
const accountServer = await accountServerFromTopology(
  topology,
  logger.child({ service: 'account-server' }),
  openDatabase,
);
await accountServer.listen(topology.accountServer.listen);
const as = topology.autonomousSystems[0]!;
const server = as.messageServers[0]!;
const messageServer = await messageServerFromTopology(
  topology,
  as,
  server,
  logger.child({ service: 'message-server' }),
  openDatabase,
);
await messageServer.listen(server.listen);

let stopping = false;
process.on('SIGTERM', () => {
  if (stopping) return;
  stopping = true;
  void (async () => {
    await messageServer.close();
    await accountServer.close();
    await host?.close();
    // Exit normally (not by signal) so that --cpu-prof writes its profile.
    process.exit(0);
  })();
});
// The idle scenario samples RSS after a full collection (node runs with --expose-gc), so that garbage left by
// account creation does not stand in the baseline and get reused by the connections it measures.
process.on('message', (message) => {
  if (message !== 'gc') return;
  globalThis.gc?.();
  process.send?.('gc-done');
});
process.send?.('ready');
