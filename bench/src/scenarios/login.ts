/** 1. SCRAM-SHA-1 logins over STARTTLS, 50 at a time: connect → STARTTLS → SASL → bind → close. */
import { LatencyRecorder, round } from '../load/latency.js';
import { inParallel } from '../load/session.js';
import { STARTTLS, login, names, startWindow, windowMetrics, type Scenario } from './context.js';

export const CONCURRENCY = 50;

export const loginScenario: Scenario = {
  name: 'login',
  supports: () => true,
  variants: () => [STARTTLS],
  async run(ctx) {
    const accounts = names('l', ctx.quick ? 200 : 1000);
    const total = ctx.quick ? 1000 : 5000;
    await ctx.server.createAccounts(accounts, 'user');
    const once = async (i: number, latency?: LatencyRecorder) => {
      const started = performance.now();
      const client = await login(ctx, accounts[i % accounts.length]!, `r${i}`);
      latency?.record(performance.now() - started);
      // Not awaited: the next login starts while this stream closes, as a real client population would.
      void client.close();
    };
    // Unmeasured pass: the load generator computes each account's SaltedPassword once (then cached).
    await inParallel(accounts, CONCURRENCY, (_, i) => once(i));
    const latency = new LatencyRecorder();
    const stop = startWindow(ctx, 'logins');
    await inParallel(names('', total), CONCURRENCY, (_, i) => once(i, latency));
    const w = stop();
    const { p50Ms, p99Ms } = latency.summary();
    return {
      logins: total,
      loginsPerSecond: round(total / w.wallSeconds, 1),
      serverCpuMsPerLogin: round((w.serverCpuSeconds * 1000) / total),
      p50Ms,
      p99Ms,
      ...windowMetrics(w),
    };
  },
};
