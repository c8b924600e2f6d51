/**
 * What the smart-lock application server tells its RAC (`/config.json`): where the account server and the message
 * server's XMPP WebSocket are, and the RAS's JID. Checked like any input.
 */
import { z } from 'zod';

export const racConfigSchema = z.strictObject({
  domain: z.string().min(1).max(253),
  accountServer: z.url({ protocol: /^https$/ }),
  websocket: z.url({ protocol: /^wss$/ }),
  ras: z.string().min(1).max(1023),
});
export type RacConfig = z.infer<typeof racConfigSchema>;

export async function loadConfig(): Promise<RacConfig> {
  const response = await fetch('/config.json', { cache: 'no-store' });
  if (!response.ok) throw new Error(`config.json: HTTP ${response.status}`);
  return racConfigSchema.parse(await response.json());
}
