/**
 * 2. Authenticated idle connections (logged in and bound, no presence): the server's RSS per connection at
 * each level and between levels (the marginal cost, the headline figure), with STARTTLS and without TLS (`plain`:
 * each server as it runs behind a TLS-terminating proxy). The bench raises its open-file limit to IDLE_OPEN_FILES
 * before starting servers (run.ts), which they inherit; where it may not (no CAP_SYS_RESOURCE) the scenario goes
 * as far as the lower of its own and the server's limit and says so in the notes; figures are then named after the
 * connections reached (`rssMbAt19400`), not the level asked for. Every server's RSS is sampled the same way: the
 * VmRSS of its process tree from /proc (ProcessMeter), SETTLE_MS after each level, with nothing asked of the
 * server first.
 */
import type { XmppClient } from '../load/client.js';
import { round } from '../load/latency.js';
import { inParallel } from '../load/session.js';
import { openFileLimits, sleep } from '../servers/system.js';
import { STARTTLS, login, names, type Metrics, type Scenario } from './context.js';

const LEVELS = [1000, 10_000, 50_000];
/** Wait before each sample, the same for every server: connections settled, the server's own collections run. */
const SETTLE_MS = 3000;
const QUICK_LEVELS = [200, 1000];

/**
 * Connections per loopback source address. A socket bound to a source address takes an ephemeral port of that
 * address for every destination (bind before connect), shared with every other program bound to it: 10 000 per
 * address, from 127.0.0.2 on (127.0.0.1 is everyone's), stays well below its 28 000 ports.
 */
export const PER_SOURCE_ADDRESS = 10_000;
/**
 * Files each process keeps for itself below its limit. Our message server refuses connections beyond its limit less
 * a reserve of a tenth, at most 1 024 (xmpp.maxConnections): every server is taken to the same level below that, so
 * the figures compare like with like (18 900 connections at a limit of 20 000).
 */
const FD_RESERVE = 1_100;
/** The open-file limit the largest level needs, in the load generator and in the server alike. */
export const IDLE_OPEN_FILES = LEVELS.at(-1)! + FD_RESERVE + 1000;

export function sourceAddress(index: number): string {
  return `127.0.0.${2 + Math.floor(index / PER_SOURCE_ADDRESS)}`;
}

/**
 * The figures of one level, named after `target`, the connections asked for there (the level, or fewer when the
 * open-file limit caps it): RSS, connections alive, RSS per connection above the baseline, and the growth per
 * connection since the previous level.
 */
export function levelFigures(
  target: number,
  now: { connections: number; rssKb: number },
  previous: { connections: number; rssKb: number },
  baseRssKb: number,
): Metrics {
  return {
    [`rssMbAt${target}`]: round(now.rssKb / 1024, 1),
    [`connectionsAt${target}`]: now.connections,
    [`kbPerConnectionAt${target}`]:
      now.connections > 0 ? round((now.rssKb - baseRssKb) / now.connections, 2) : null,
    [`growthKbPerConnectionTo${target}`]:
      now.connections > previous.connections
        ? round((now.rssKb - previous.rssKb) / (now.connections - previous.connections), 2)
        : null,
  };
}

export const idleScenario: Scenario = {
  name: 'idle',
  supports: () => true,
  variants: () => [STARTTLS, { label: 'plain', requireTls: false }],
  async run(ctx) {
    const levels = ctx.quick ? QUICK_LEVELS : LEVELS;
    const accounts = names('i', ctx.quick ? 100 : 1000);
    await ctx.server.createAccounts(accounts, 'user');
    // Each connection is a socket in the load generator and one in the server: the lower limit bounds both.
    const own = openFileLimits();
    const server = openFileLimits(ctx.server.pid);
    const limit = Math.min(own.soft, server.soft);
    const cap = limit - FD_RESERVE;
    const clients: XmppClient[] = [];
    await sleep(SETTLE_MS);
    const base = ctx.meter.sample().rssKb;
    const metrics: Metrics = { baselineRssMb: round(base / 1024, 1), openFileLimit: limit };
    let previous = { connections: 0, rssKb: base };
    let growth: number | null = null;
    let failure: string | undefined;
    for (const level of levels) {
      // Figures are named after the connections asked for, which the open-file limit may cap below the level.
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
      await sleep(SETTLE_MS);
      const alive = clients.filter((c) => !c.closed).length;
      const rssKb = ctx.meter.sample().rssKb;
      const figures = levelFigures(target, { connections: alive, rssKb }, previous, base);
      Object.assign(metrics, figures);
      growth = figures[`growthKbPerConnectionTo${target}`] ?? null;
      previous = { connections: alive, rssKb };
      if (alive < level) {
        ctx.notes.push(
          `idle: ${alive} of ${level} connections reached` +
            (failure
              ? ` (${failure})`
              : ` (open-file limit ${limit}: load generator ${own.soft} soft / ${own.hard} hard, ` +
                `server ${server.soft} / ${server.hard})`),
        );
        break;
      }
    }
    metrics.maxConnections = previous.connections;
    metrics.kbPerConnectionAtMax =
      previous.connections > 0 ? round((previous.rssKb - base) / previous.connections, 2) : null;
    // The headline: what one more connection costs between the last two levels. Unlike the ratio to the
    // baseline it does not depend on garbage the server had not yet collected when the baseline was read.
    metrics.marginalKbPerConnection = growth;
    // After every figure above (so it changes none of them): ours once more after a full collection, which the
    // others cannot be asked for, to show how much of its RSS at the last level was garbage.
    if (ctx.server.collectGarbage) {
      await ctx.server.collectGarbage();
      metrics.rssMbAfterFullGcAtMax = round(ctx.meter.sample().rssKb / 1024, 1);
    }
    for (const client of clients) client.destroy();
    return metrics;
  },
};
