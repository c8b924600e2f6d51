/**
 * `pnpm start`: a whole IRSP on this machine. IRSP_CONFIG names a topology file; without it the default
 * topology in `.irsp/irsp.yaml` is used (created on first start), with the smart-lock simulator (simulator.ts; not
 * with IRSP_SIMULATOR=off). IRSP_STATE_DIR moves `.irsp/`.
 */
import { runMain } from '@irsp/http';
import { startSimulator } from './simulator.js';
import { ensureTopologyFile, startIrsp, summary } from './start.js';

runMain('irsp', async (logger) => {
  const stateDir = process.env.IRSP_STATE_DIR ?? '.irsp';
  const topologyFile = await ensureTopologyFile(stateDir, process.env.IRSP_CONFIG);
  const irsp = await startIrsp({ topologyFile, stateDir, logger });
  process.stderr.write(`\n${summary(irsp)}\n\n`);
  if (process.env.IRSP_CONFIG || process.env.IRSP_SIMULATOR === 'off') return irsp;
  const simulator = startSimulator(
    irsp.manifestPath,
    irsp.manifest.caCert,
    logger.child({ service: 'smartlock-sim' }),
  );
  return {
    async close() {
      await simulator.close();
      await irsp.close();
    },
  };
});
