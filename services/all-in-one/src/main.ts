/**
 * `pnpm start`: a whole IRSP on this machine. IRSP_CONFIG names a topology file; without it the default
 * topology in `.irsp/irsp.yaml` is used (created on first start). IRSP_STATE_DIR moves `.irsp/`.
 */
import { runMain } from '@irsp/http';
import { ensureTopologyFile, startIrsp, summary } from './start.js';

runMain('irsp', async (logger) => {
  const stateDir = process.env.IRSP_STATE_DIR ?? '.irsp';
  const topologyFile = await ensureTopologyFile(stateDir, process.env.IRSP_CONFIG);
  const irsp = await startIrsp({ topologyFile, stateDir, logger });
  process.stderr.write(`\n${summary(irsp)}\n\n`);
  return irsp;
});
