/**
 * 5. Pushes through the server's HTTP interface to devices on line: Message 13 (our message server's push URI)
 * or ejabberd's `send_message` (mod_http_api), 64 requests in flight over HTTPS keep-alive connections.
 * Delivered = arrived on the device's XMPP stream.
 */
import type { XmppClient } from '../load/client.js';
import { LatencyRecorder, round } from '../load/latency.js';
import { inParallel } from '../load/session.js';
import { bodyText } from '../load/splitter.js';
import { sleep } from '../servers/system.js';
import { STARTTLS, names, online, startWindow, windowMetrics, type Scenario } from './context.js';

export const IN_FLIGHT = 64;

export const pushScenario: Scenario = {
  name: 'push',
  supports: (server) => (server === 'prosody' ? "Debian's Prosody has no HTTP push interface" : true),
  variants: () => [STARTTLS],
  async run(ctx) {
    const push = ctx.server.push;
    if (!push) throw new Error('no push interface');
    const devices = names('p', ctx.quick ? 200 : 1000);
    const total = ctx.quick ? 2000 : 10_000;
    await ctx.server.createAccounts(devices, 'device');
    const localparts = devices.map((d) => ctx.server.deviceLocalpart(d));
    const clients: XmppClient[] = await inParallel(localparts, 50, (name) => online(ctx, name, 'dev'));
    await sleep(2000); // Messages 10 of every device leave the outbox before measuring

    const sentAt = new Float64Array(total);
    const latency = new LatencyRecorder();
    let delivered = 0;
    let lastAt = 0;
    let done: () => void = () => {};
    const all = new Promise<void>((resolve) => (done = resolve));
    for (const client of clients) {
      client.onStanza = (name, xml) => {
        const body = name === 'message' ? bodyText(xml) : undefined;
        if (!body?.startsWith('k')) return;
        const seq = Number(body.slice(1, body.indexOf('|')));
        lastAt = performance.now();
        latency.record(lastAt - sentAt[seq]!);
        if (++delivered === total) done();
      };
    }
    const startedAt = performance.now();
    const stop = startWindow(ctx.meter);
    let refused = 0;
    await inParallel(names('', total), IN_FLIGHT, async (_, i) => {
      sentAt[i] = performance.now();
      if (!(await push.call(ctx.server, localparts[i % localparts.length]!, `k${i}|pushed by the bench`)))
        refused += 1;
    });
    await Promise.race([all, sleep(30_000)]);
    const w = stop();
    for (const client of clients) client.destroy();
    if (delivered < total) ctx.notes.push(`push: ${delivered} of ${total} pushes arrived`);
    const { p50Ms, p99Ms } = latency.summary();
    return {
      pushes: total,
      delivered,
      refused,
      deliveredPerSecond: delivered > 0 ? round(delivered / ((lastAt - startedAt) / 1000), 1) : null,
      serverCpuMsPerPush: delivered > 0 ? round((w.serverCpuSeconds * 1000) / delivered, 3) : null,
      p50Ms,
      p99Ms,
      ...windowMetrics(w),
    };
  },
};
