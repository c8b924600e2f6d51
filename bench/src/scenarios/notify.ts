/**
 * 7. (Ours only.) Devices come on line (Message 10), upload (Message 9) and leave (Message 11), users upload
 * (Message 8): how fast the message server's outbox hands them to the application server when it answers at
 * once, when it takes 200 ms, and when it was down and comes back (the backlog's drain rate).
 */
import { round } from '../load/latency.js';
import { inParallel } from '../load/session.js';
import type { AppStub } from '../servers/app-stub.js';
import { sleep } from '../servers/system.js';
import {
  STARTTLS,
  asIrsp,
  login,
  names,
  startWindow,
  type Metrics,
  type Scenario,
  type ScenarioContext,
} from './context.js';

export const SLOW_MS = 200;
const TIMEOUT_MS = 300_000;

/** Every account's events once: 3 notifications per device, 1 per user. */
async function events(
  ctx: ScenarioContext,
  appJid: string,
  devices: string[],
  users: string[],
): Promise<void> {
  const accounts = [...devices.map((d) => ctx.server.deviceLocalpart(d)), ...users];
  await inParallel(accounts, 50, async (name, i) => {
    const client = await login(ctx, name, 'n');
    client.write(`<message to='${appJid}'><body>upload ${i}</body></message>`);
    await client.close();
  });
}

async function phase(
  ctx: ScenarioContext,
  stub: AppStub,
  run: () => Promise<void>,
  expected: number,
  label: string,
): Promise<Metrics> {
  const since = stub.received.length;
  const stop = startWindow(ctx, label);
  const startedAt = performance.now();
  const arrived = stub.waitFor(expected, since, TIMEOUT_MS);
  await run();
  const complete = await arrived;
  const w = stop();
  const got = stub.received.slice(since);
  if (!complete)
    ctx.notes.push(`notify ${label}: ${got.length} of ${expected} notifications in ${TIMEOUT_MS} ms`);
  const last = got.at(-1)?.at ?? startedAt;
  return {
    [`${label}PerSecond`]: round(got.length / ((last - startedAt) / 1000), 1),
    [`${label}ServerCpuMsPerNotification`]:
      got.length > 0 ? round((w.serverCpuSeconds * 1000) / got.length, 3) : null,
  };
}

export const notifyScenario: Scenario = {
  name: 'notify',
  supports: (server) => (server === 'irsp' ? true : 'Messages 8–11 exist only in the IRSP'),
  variants: () => [STARTTLS],
  async run(ctx) {
    const irsp = asIrsp(ctx.server);
    const devices = names('n', ctx.quick ? 100 : 500);
    const users = names('nu', ctx.quick ? 50 : 250);
    await irsp.createAccounts(devices, 'device');
    await irsp.createAccounts(users, 'user');
    const expected = devices.length * 3 + users.length;
    const metrics: Metrics = { notificationsPerPhase: expected };
    const once = () => events(ctx, irsp.appJid, devices, users);

    Object.assign(metrics, await phase(ctx, irsp.stub, once, expected, 'prompt'));
    irsp.stub.delayMs = SLOW_MS;
    Object.assign(metrics, await phase(ctx, irsp.stub, once, expected, 'slow'));
    irsp.stub.delayMs = 0;

    // Down: the notifications wait in the outbox (retried with back-off) until it is back.
    await irsp.stub.stop();
    await once();
    await sleep(2000);
    const since = irsp.stub.received.length;
    const backAt = performance.now();
    const stop = startWindow(ctx, 'backlog');
    const arrived = irsp.stub.waitFor(expected, since, TIMEOUT_MS);
    await irsp.stub.start();
    const complete = await arrived;
    const w = stop();
    const got = irsp.stub.received.slice(since);
    if (!complete)
      ctx.notes.push(`notify backlog: ${got.length} of ${expected} notifications after ${TIMEOUT_MS} ms`);
    const first = got[0]?.at;
    const last = got.at(-1)?.at;
    return {
      ...metrics,
      backlogFirstAfterBackMs: first === undefined ? null : round(first - backAt, 1),
      backlogAllAfterBackMs: complete && last !== undefined ? round(last - backAt, 1) : null,
      backlogDrainPerSecond:
        first !== undefined && last !== undefined && last > first
          ? round(got.length / ((last - first) / 1000), 1)
          : null,
      backlogServerCpuMsPerNotification:
        got.length > 0 ? round((w.serverCpuSeconds * 1000) / got.length, 3) : null,
    };
  },
};
