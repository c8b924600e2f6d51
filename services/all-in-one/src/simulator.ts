/**
 * `pnpm start` also runs the smart-lock simulator (`pnpm smartlock:sim`): one gateway with two locks in the first
 * AS, joined as a device maker and an operator would join them, so that a newcomer can open a door within a minute.
 * It is a process of its own, as a real gateway is a machine of its own. `IRSP_SIMULATOR=off` leaves it out.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '@irsp/http';

const MAIN = fileURLToPath(new URL('../../smartlock-sim/dist/main.js', import.meta.url));

export function startSimulator(
  manifestPath: string,
  caCert: string,
  logger: Logger,
): { close(): Promise<void> } {
  let closing = false;
  const child = spawn(process.execPath, [MAIN, '--manifest', manifestPath], {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, NODE_EXTRA_CA_CERTS: resolve(caCert) },
  });
  child.on('exit', (code, signal) => {
    if (!closing) logger.error({ code, signal }, 'smart-lock simulator stopped; the IRSP goes on without it');
  });
  return {
    async close() {
      closing = true;
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}
