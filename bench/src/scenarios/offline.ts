/**
 * 4. Messages to a related account that is offline, then its login: how fast they are stored (the sender's
 * stream is pinged after the last one, and every server handles a stream's stanzas in order) and how long
 * after its initial presence the last one arrives.
 */
import { round } from '../load/latency.js';
import { fetchRoster, pingServer, relate } from '../load/session.js';
import { attribute, bodyText } from '../load/splitter.js';
import { DOMAIN } from '../servers/types.js';
import { sleep } from '../servers/system.js';
import { STARTTLS, login, online, startWindow, windowMetrics, type Scenario } from './context.js';
import { benchMessage, parseMarker } from './throughput.js';

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
    const store = stop();
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
      storedPerSecond: round(count / store.wallSeconds, 1),
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
