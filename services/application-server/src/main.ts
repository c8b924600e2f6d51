/** One application server of one AS: IRSP_CONFIG, IRSP_AS, IRSP_APPLICATION_SERVER, PORT, DATABASE_URL. */
import { listenOverride, loadTopology, otherEmbeddedLayout, selectApplicationServer } from '@irsp/config';
import { runMain } from '@irsp/http';
import { applicationServerFromTopology } from './from-topology.js';

runMain('application-server', async (logger) => {
  const topology = await loadTopology(process.env.IRSP_CONFIG ?? 'irsp.yaml');
  logger.level = topology.logLevel;
  const other = otherEmbeddedLayout(topology, 'alone');
  if (other) logger.warn(other);
  const { as, server } = selectApplicationServer(topology, process.env);
  const applicationServer = await applicationServerFromTopology(topology, as, server, logger);
  const port = await applicationServer.listen(listenOverride(server.listen, process.env));
  logger.info({ domain: as.domain, name: server.name, port }, 'application server listening');
  return applicationServer;
});
