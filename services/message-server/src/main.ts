/** One message server of one AS: IRSP_CONFIG (topology file), IRSP_AS, IRSP_MESSAGE_SERVER, PORT, DATABASE_URL. */
import { listenOverride, loadTopology, otherEmbeddedLayout, selectMessageServer } from '@irsp/config';
import { runMain } from '@irsp/http';
import { messageServerFromTopology } from './from-topology.js';

runMain('message-server', async (logger) => {
  const topology = await loadTopology(process.env.IRSP_CONFIG ?? 'irsp.yaml');
  logger.level = topology.logLevel;
  const other = otherEmbeddedLayout(topology, 'alone');
  if (other) logger.warn(other);
  const { as, server } = selectMessageServer(topology, process.env);
  const messageServer = await messageServerFromTopology(topology, as, server, logger);
  const ports = await messageServer.listen(listenOverride(server.listen, process.env));
  logger.info({ domain: as.domain, id: server.id, ports }, 'message server listening');
  return messageServer;
});
