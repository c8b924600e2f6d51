/**
 * 4. Messages to a related account that is offline, then its login: how fast they are stored durably and how
 * long after its initial presence the last one arrives. The store window closes when both the sender's stream
 * has answered a ping sent after the last message and the server's storage holds every message, counted by a
 * means of its own (ServerUnderTest.offlineCount): the answer to the ping alone is the server's word, and ours
 * gave it before its group commit did.
 */
import { round } from '../load/latency.js';
import { fetchRoster, pingServer, relate } from '../load/session.js';
import { attribute, bodyText } from '../load/splitter.js';
import { DOMAIN } from '../servers/types.js';
import { sleep } from '../servers/system.js';
import { STARTTLS, login, online, startWindow, windowMetrics, type Scenario } from './context.js';
import { benchMessage, parseMarker } from './throughput.js';

/** How long the storage may take, after the ping's answer, to hold every message. */
const STORE_TIMEOUT_MS = 30_000;
/** Between two counts: short against the window (≈ 100–500 ms), few statements for the server to answer. */
const COUNT_INTERVAL_MS = 5;

/**
 * Counts until `count` are held or `timeoutMs` has passed; `at` is when the last count was read, `counts` how
 * many were made (each costs the server a statement, inside the window), `firstHeld` what the first one found
 * (fewer than `count`: the ping was answered before every message was stored).
 */
export async function untilStored(
  offlineCount: () => Promise<number>,
  count: number,
  timeoutMs: number,
  intervalMs = COUNT_INTERVAL_MS,
): Promise<{ held: number; at: number; counts: number; firstHeld: number }> {
  const until = performance.now() + timeoutMs;
  let firstHeld: number | undefined;
  for (let counts = 1; ; counts++) {
    const held = await offlineCount();
    firstHeld ??= held;
    const at = performance.now();
    if (held >= count || at >= until) return { held, at, counts, firstHeld };
    await sleep(intervalMs);
  }
}

export const offlineScenario: Scenario = {
  name: 'offline',
  supports: () => true,
  variants: () => [STARTTLS],
  async run(ctx) {
    const count = ctx.quick ? 200 : 1000;
    await ctx.server.createAccounts(['osender', 'orecipient'], 'user');
    const sender = await online(ctx, 'osender', 'bench');
    const first = await online(ctx, 'orecipient', 'bench');
    await relate([[sender, first]]);
    await first.close();
    await sleep(1000);

    let errors = 0;
    sender.onStanza = (name, xml) => {
      if (name === 'message' && attribute(xml, 'type') === 'error') errors += 1;
    };
    const to = `orecipient@${DOMAIN}`;
    const stop = startWindow(ctx, 'store');
    for (let seq = 1; seq <= count; seq++) {
      if (!sender.write(benchMessage(to, 0, seq))) await sender.drained();
    }
    await pingServer(sender, DOMAIN);
    const pingedAt = performance.now();
    const stored = await untilStored(() => ctx.server.offlineCount('orecipient'), count, STORE_TIMEOUT_MS);
    const store = stop();
    if (stored.held < count)
      ctx.notes.push(
        `offline: ${stored.held} of ${count} messages stored ${STORE_TIMEOUT_MS / 1000} s after the ping's answer`,
      );
    await sleep(1000);

    const recipient = await login(ctx, 'orecipient', 'bench');
    await fetchRoster(recipient);
    let received = 0;
    let firstAt = 0;
    let lastAt = 0;
    const all = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 60_000);
      recipient.onStanza = (name, xml) => {
        if (name !== 'message' || !parseMarker(bodyText(xml))) return;
        received += 1;
        lastAt = performance.now();
        firstAt ||= lastAt;
        if (received === count) {
          clearTimeout(timer);
          resolve(true);
        }
      };
    });
    const presenceAt = performance.now();
    const drain = startWindow(ctx, 'drain');
    recipient.write('<presence/>');
    const complete = await all;
    const drained = drain();
    if (!complete)
      ctx.notes.push(`offline: only ${received} of ${count} stored messages arrived within 60 s`);
    if (errors > 0) ctx.notes.push(`offline: ${errors} messages were refused`);
    sender.destroy();
    recipient.destroy();
    return {
      messages: count,
      storedPerSecond: stored.held < count ? null : round(count / store.wallSeconds, 1),
      storedAfterPingMs: stored.held < count ? null : round(stored.at - pingedAt, 1),
      storageCounts: stored.counts,
      storedAtFirstCount: stored.firstHeld,
      serverCpuMsPer1000Stored: round((store.serverCpuSeconds * 1_000_000) / count, 1),
      delivered: received,
      firstAfterPresenceMs: firstAt ? round(firstAt - presenceAt, 1) : null,
      drainedAfterPresenceMs: complete ? round(lastAt - presenceAt, 1) : null,
      drainServerCpuSeconds: round(drained.serverCpuSeconds),
      refused: errors,
      ...windowMetrics(store),
    };
  },
};
