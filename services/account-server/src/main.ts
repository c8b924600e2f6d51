/** The account server of the IRSP: IRSP_CONFIG (topology file), PORT, DATABASE_URL. */
import { listenOverride, loadTopology, otherEmbeddedLayout } from '@irsp/config';
import { runMain } from '@irsp/http';
import { accountServerFromTopology } from './from-topology.js';

runMain('account-server', async (logger) => {
  const topology = await loadTopology(process.env.IRSP_CONFIG ?? 'irsp.yaml');
  logger.level = topology.logLevel;
  const other = otherEmbeddedLayout(topology, 'alone');
  if (other) logger.warn(other);
  const accountServer = await accountServerFromTopology(topology, logger);
  const port = await accountServer.listen(listenOverride(topology.accountServer.listen, process.env));
  logger.info({ port }, 'account server listening');
  return accountServer;
});
