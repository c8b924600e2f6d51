/**
 * 6. Account creation through the server's HTTP interface, 50 at a time: ours end to end (client API at the
 * account server → Message 1 to the message server → both answer), ejabberd's `register` command.
 */
import { LatencyRecorder, round } from '../load/latency.js';
import { inParallel } from '../load/session.js';
import { STARTTLS, names, startWindow, windowMetrics, type Scenario } from './context.js';

export const registerScenario: Scenario = {
  name: 'register',
  supports: (server) => (server === 'prosody' ? "Debian's Prosody has no HTTP registration interface" : true),
  variants: () => [STARTTLS],
  async run(ctx) {
    const register = ctx.server.register;
    if (!register) throw new Error('no registration interface');
    const accounts = names('reg', ctx.quick ? 200 : 2000);
    const latency = new LatencyRecorder();
    let failed = 0;
    const stop = startWindow(ctx, 'registrations');
    await inParallel(accounts, 50, async (name) => {
      const started = performance.now();
      if (await register.call(ctx.server, name)) latency.record(performance.now() - started);
      else failed += 1;
    });
    const w = stop();
    const ok = accounts.length - failed;
    const { p50Ms, p99Ms } = latency.summary();
    return {
      registrations: ok,
      failed,
      registrationsPerSecond: round(ok / w.wallSeconds, 1),
      serverCpuMsPerRegistration: ok > 0 ? round((w.serverCpuSeconds * 1000) / ok, 2) : null,
      p50Ms,
      p99Ms,
      ...windowMetrics(w),
    };
  },
};
