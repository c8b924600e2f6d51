/**
 * Devices online on a message server that dies are reported offline (issue 12 item 9, decision 0013): the message
 * server runs as a child process killed with SIGKILL, the application server is the test's HTTPS receiver, and
 * every Message 10/11 it receives is counted per device.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Client } from '@xmpp/client';
import { form, TestClient } from './support/irsp.js';
import { ChaosIrsp, type Received, type ServiceProcess } from './support/processes.js';
import { withoutRetries } from './support/retries.js';
import { trustCaForXmppClients, xmppLogin } from './support/xmpp.js';

let irsp: ChaosIrsp | undefined;
let untrust: (() => void) | undefined;
const clients: Client[] = [];

afterEach(async () => {
  // Their server was killed: nothing to close politely.
  for (const client of clients.splice(0))
    await Promise.race([client.stop().catch(() => undefined), pause(500)]);
  untrust?.();
  await irsp?.close();
  irsp = undefined;
});

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every Message 10/11 the application server received for `device`, in arrival order, each marked. */
function arrivals(chaos: ChaosIrsp, device: string): Received[] {
  const all = chaos.receiver!.received.filter(
    (r) => r.path === '/device/status' && r.params.deviceid === device,
  );
  expect(all.filter((r) => !r.delivery)).toEqual([]);
  return all;
}

/**
 * The `type` of every Message 10/11 received for `device`, in arrival order, the retries left out: a notification
 * whose 200 the killed server never read is sent again by the outbox (at least once; its row stays leased until
 * the lease runs out), with the same delivery id and a higher attempt number. Any other repeat stays in.
 */
function statuses(chaos: ChaosIrsp, device: string): string[] {
  return withoutRetries(arrivals(chaos, device), (a, b) => a.params.type === b.params.type).first.map(
    (r) => r.params.type!,
  );
}

/** Every `type` received for `device`, retries included. */
function sent(chaos: ChaosIrsp, device: string): string[] {
  return arrivals(chaos, device).map((r) => r.params.type!);
}

/** Longer than the outbox's lease (60 s), which a row leased by the killed server waits out. */
const AFTER_RESTART = { timeout: 90_000 };

async function registerDevices(chaos: ChaosIrsp, devices: string[]): Promise<void> {
  const ms = chaos.as.messageServers[0]!;
  const http = new TestClient(chaos.ca);
  try {
    for (const name of devices) {
      const answer = await http.post(
        `${ms.url}/device/register`,
        form({ version: '1', ...ms.credentials.accountServer, name, password: `${name} pw` }),
      );
      expect({ status: answer.status, body: answer.body }).toEqual({ status: 200, body: '' });
    }
  } finally {
    await http.close();
  }
}

async function login(chaos: ChaosIrsp, device: string, server = 0): Promise<void> {
  const client = await xmppLogin({
    port: chaos.as.messageServers[server]!.xmpp!.c2sPort,
    domain: chaos.as.domain,
    username: device,
    password: `${device} pw`,
    resource: 'r',
  });
  clients.push(client);
}

describe('a message server killed with SIGKILL', () => {
  it('reports every device it held offline when it starts again: one Message 11 per device, after its Message 10', async () => {
    irsp = await ChaosIrsp.create({ receiver: true });
    untrust = trustCaForXmppClients(irsp.ca);
    let ms: ServiceProcess = await irsp.start('message-server');
    await registerDevices(irsp, ['#lock1', '#lock2']);
    await login(irsp, '#lock1');
    await login(irsp, '#lock2');
    await expect.poll(() => statuses(irsp!, '#lock1'), { timeout: 30_000 }).toEqual(['online']);
    await expect.poll(() => statuses(irsp!, '#lock2'), { timeout: 30_000 }).toEqual(['online']);
    // Time for the server to read the 200s (else their rows wait out the outbox's lease: slower, same outcome).
    await pause(1_000);

    await ms.kill();
    ms = await irsp.start('message-server');
    await expect.poll(() => statuses(irsp!, '#lock1'), AFTER_RESTART).toEqual(['online', 'offline']);
    await expect.poll(() => statuses(irsp!, '#lock2'), AFTER_RESTART).toEqual(['online', 'offline']);

    // Killed and started once more with nobody online: nothing further, in particular no second Message 11.
    await ms.kill();
    ms = await irsp.start('message-server');
    await pause(2_000);
    for (const device of ['#lock1', '#lock2']) {
      expect(statuses(irsp, device)).toEqual(['online', 'offline']);
      expect(sent(irsp, device).filter((type) => type === 'offline')).toHaveLength(1);
    }
  }, 240_000);

  it('that does not come back: another message server of the AS takes its devices over once its lease runs out', async () => {
    // On PostgreSQL both servers share the database at once; PGlite's data directory is one process's at a time,
    // so there the second server starts after the first has died.
    const shared = Boolean(process.env.DATABASE_URL);
    irsp = await ChaosIrsp.create({ receiver: true, messageServers: 2, sessionLeaseMs: 1_500 });
    untrust = trustCaForXmppClients(irsp.ca);
    const ms1 = await irsp.start('message-server', 'ms1');
    if (shared) await irsp.start('message-server', 'ms2');
    const devices = shared ? ['#lock1', '#lock2', '#lock3'] : ['#lock1', '#lock2'];
    await registerDevices(irsp, devices);
    await login(irsp, '#lock1');
    await login(irsp, '#lock2');
    if (shared) await login(irsp, '#lock3', 1);
    for (const device of devices)
      await expect.poll(() => statuses(irsp!, device), { timeout: 30_000 }).toEqual(['online']);
    if (shared) {
      // Live leases are renewed and respected: three lease periods later nobody was reported offline.
      await pause(4_500);
      for (const device of devices) expect(statuses(irsp, device)).toEqual(['online']);
    }
    await pause(1_000);

    await ms1.kill();
    if (!shared) await irsp.start('message-server', 'ms2');
    await expect.poll(() => statuses(irsp!, '#lock1'), AFTER_RESTART).toEqual(['online', 'offline']);
    await expect.poll(() => statuses(irsp!, '#lock2'), AFTER_RESTART).toEqual(['online', 'offline']);
    await pause(3_000);
    for (const device of ['#lock1', '#lock2']) {
      expect(statuses(irsp, device)).toEqual(['online', 'offline']);
      expect(sent(irsp, device).filter((type) => type === 'offline')).toHaveLength(1);
    }
    // The device on the live server stays online.
    if (shared) expect(sent(irsp, '#lock3')).toEqual(['online']);
  }, 240_000);
});
