/**
 * 5. Pushes through the server's HTTP interface to devices on line: Message 13 (our message server's push URI)
 * or ejabberd's `send_message` (mod_http_api), 64 requests in flight over HTTPS keep-alive connections.
 * Delivered = arrived on the device's XMPP stream. A first round pushes once to every device and is reported
 * apart (`firstRound…`): a server may read an account from its database at its first push and keep it (ours
 * does); the measured pushes then go to devices pushed to before, as pushes to a device do in service.
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

    /** Pushes `count` (numbered from `first`, body `<tag><n>|…`) as `phase` and waits until they arrive or 30 s pass. */
    const pushRound = async (tag: string, phase: string, first: number, count: number) => {
      const sentAt = new Float64Array(count);
      const latency = new LatencyRecorder();
      let delivered = 0;
      let lastAt = 0;
      let done: () => void = () => {};
      const all = new Promise<void>((resolve) => (done = resolve));
      for (const client of clients) {
        client.onStanza = (name, xml) => {
          const body = name === 'message' ? bodyText(xml) : undefined;
          if (!body?.startsWith(tag)) return;
          const seq = Number(body.slice(tag.length, body.indexOf('|')));
          lastAt = performance.now();
          latency.record(lastAt - sentAt[seq]!);
          if (++delivered === count) done();
        };
      }
      const startedAt = performance.now();
      const stop = startWindow(ctx, phase);
      let refused = 0;
      await inParallel(names('', count), IN_FLIGHT, async (_, i) => {
        sentAt[i] = performance.now();
        const to = localparts[(first + i) % localparts.length]!;
        if (!(await push.call(ctx.server, to, `${tag}${i}|pushed by the bench`))) refused += 1;
      });
      await Promise.race([all, sleep(30_000)]);
      const w = stop();
      if (delivered < count) ctx.notes.push(`push: ${delivered} of ${count} pushes (${tag}) arrived`);
      const perSecond = delivered > 0 ? round(delivered / ((lastAt - startedAt) / 1000), 1) : null;
      const cpuMsPerPush = delivered > 0 ? round((w.serverCpuSeconds * 1000) / delivered, 3) : null;
      return { delivered, refused, perSecond, cpuMsPerPush, latency: latency.summary(), w };
    };
    const firstRound = await pushRound('f', 'first round', 0, localparts.length);
    const measured = await pushRound('k', 'pushes', 0, total);
    for (const client of clients) client.destroy();
    return {
      pushes: total,
      delivered: measured.delivered,
      refused: measured.refused + firstRound.refused,
      deliveredPerSecond: measured.perSecond,
      serverCpuMsPerPush: measured.cpuMsPerPush,
      p50Ms: measured.latency.p50Ms,
      p99Ms: measured.latency.p99Ms,
      firstRoundPushes: localparts.length,
      firstRoundCpuMsPerPush: firstRound.cpuMsPerPush,
      ...windowMetrics(measured.w),
    };
  },
};
