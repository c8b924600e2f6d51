/**
 * 2. Authenticated idle connections (logged in and bound, no presence): the server's RSS per connection at
 * each level and between levels (the marginal cost, the headline figure). The number of open files of one process is the limit on this machine; the
 * scenario goes as far as it can and reports the level it reached.
 */
import type { XmppClient } from '../load/client.js';
import { round } from '../load/latency.js';
import { inParallel } from '../load/session.js';
import { openFileLimit, sleep } from '../servers/system.js';
import { STARTTLS, login, names, type Metrics, type Scenario } from './context.js';

/** Connections per loopback source address, below the 28 000 ephemeral ports of one address. */
export const PER_SOURCE_ADDRESS = 20_000;
/** Files each process keeps for itself (database, logs, listeners) below its limit. */
const FD_RESERVE = 600;

export function sourceAddress(index: number): string {
  return `127.0.0.${1 + Math.floor(index / PER_SOURCE_ADDRESS)}`;
}

export const idleScenario: Scenario = {
  name: 'idle',
  supports: () => true,
  variants: () => [STARTTLS],
  async run(ctx) {
    const levels = ctx.quick ? [200, 1000] : [1000, 10_000, 50_000];
    const accounts = names('i', ctx.quick ? 100 : 1000);
    await ctx.server.createAccounts(accounts, 'user');
    const cap = openFileLimit() - FD_RESERVE;
    const clients: XmppClient[] = [];
    await sleep(2000);
    const base = ctx.meter.sample().rssKb;
    const metrics: Metrics = { baselineRssMb: round(base / 1024, 1), openFileLimit: openFileLimit() };
    let previous = { connections: 0, rssKb: base };
    let failure: string | undefined;
    for (const level of levels) {
      const target = Math.min(level, cap);
      const offset = clients.length;
      await inParallel(names('', target - offset), 100, async (_, i) => {
        if (failure) return;
        // Each connection its own resource: binding one already on line would close the older (conflict).
        const index = offset + i;
        try {
          const client = await login(ctx, accounts[index % accounts.length]!, `c${index}`, {
            localAddress: sourceAddress(index),
          });
          clients.push(client);
        } catch (error) {
          failure ??= `${(error as Error).message} after ${index} connections`;
        }
      });
      await sleep(3000);
      const alive = clients.filter((c) => !c.closed).length;
      const rssKb = ctx.meter.sample().rssKb;
      metrics[`rssMbAt${level}`] = round(rssKb / 1024, 1);
      metrics[`connectionsAt${level}`] = alive;
      metrics[`kbPerConnectionAt${level}`] = alive > 0 ? round((rssKb - base) / alive, 2) : null;
      metrics[`growthKbPerConnectionTo${level}`] =
        alive > previous.connections
          ? round((rssKb - previous.rssKb) / (alive - previous.connections), 2)
          : null;
      previous = { connections: alive, rssKb };
      if (alive < level) {
        ctx.notes.push(
          `idle: ${alive} of ${level} connections reached` +
            (failure ? ` (${failure})` : ` (open-file limit ${openFileLimit()} per process, hard limit too)`),
        );
        break;
      }
    }
    metrics.maxConnections = previous.connections;
    metrics.kbPerConnectionAtMax =
      previous.connections > 0 ? round((previous.rssKb - base) / previous.connections, 2) : null;
    // The headline: what one more connection costs between the last two levels. Unlike the ratio to the
    // baseline it does not depend on garbage the server had not yet collected when the baseline was read.
    metrics.marginalKbPerConnection =
      metrics[`growthKbPerConnectionTo${levels.find((l) => l >= previous.connections)}`] ?? null;
    for (const client of clients) client.destroy();
    return metrics;
  },
};
