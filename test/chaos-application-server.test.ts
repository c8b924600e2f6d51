/**
 * Chaos: the application server killed with SIGKILL while the message server's notifications to it (Messages 8–11)
 * queue (docs/consistency.md, "Chaos tests"). A user and a device upload numbered data, the device goes offline and
 * online again while the application server is down; after its restart every notification must have arrived, in
 * order per user or device. The outbox delivers at least once: a notification whose 200 was lost with the killed
 * process is sent again, marked as a retry (the same IRSP-Delivery-Id, a higher IRSP-Delivery-Attempt) — that, and
 * nothing else, may repeat. Counted by id (the data) against what the test did.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { xml, type Client } from '@xmpp/client';
import { DefaultApplication, type Received } from './support/default-app.js';
import { TestClient } from './support/irsp.js';
import { withoutRetries } from './support/retries.js';
import { ChaosIrsp, type ServiceProcess } from './support/processes.js';
import { trustCaForXmppClients, xmppLogin } from './support/xmpp.js';

let irsp: ChaosIrsp | undefined;
let untrust: (() => void) | undefined;
let http: TestClient | undefined;
const clients: Client[] = [];

afterEach(async () => {
  for (const client of clients.splice(0))
    await Promise.race([client.stop().catch(() => undefined), new Promise((r) => setTimeout(r, 500))]);
  untrust?.();
  await http?.close();
  await irsp?.close();
  irsp = undefined;
});

const APP = 'default.as1.irsp.test';

async function login(chaos: ChaosIrsp, name: string): Promise<Client> {
  const client = await xmppLogin({
    port: chaos.as.messageServers[0]!.xmpp!.c2sPort,
    domain: chaos.as.domain,
    username: name,
    password: `${name} pw`,
    resource: 'r',
  });
  clients.push(client);
  return client;
}

/** Uploads `data` and waits for a ping's answer: the upload was queued (the server answers in order). */
async function upload(client: Client, data: string): Promise<void> {
  await client.send(xml('message', { to: APP, type: 'normal' }, xml('body', {}, data)));
  await client.iqCaller.request(xml('iq', { type: 'get' }, xml('ping', { xmlns: 'urn:xmpp:ping' })));
}

/** One notification as the test counts it: the account it is about and what it says. */
function item(r: Received): { key: string; what: string } {
  const key = r.params.userid ?? r.params.deviceid ?? '?';
  if (r.message === 10 || r.message === 11) return { key, what: r.params.type! };
  return { key, what: r.params.data ?? `message ${r.message}` };
}

/**
 * Per key, what arrived with the marked retries left out (an unmarked repeat stays in, and fails the comparison
 * with what was sent), and how many retries there were.
 */
function byKey(received: Received[]): { sequences: Map<string, string[]>; repeats: number } {
  const sequences = new Map<string, string[]>();
  const { first, retries } = withoutRetries(received, (a, b) => {
    const [x, y] = [item(a), item(b)];
    return x.key === y.key && x.what === y.what;
  });
  for (const r of first) {
    const { key, what } = item(r);
    sequences.set(key, [...(sequences.get(key) ?? []), what]);
  }
  return { sequences, repeats: retries };
}

describe('chaos: an application server killed with SIGKILL while notifications queue', () => {
  it('receives every notification after its restart, in order per user and device, none repeated but a retry', async () => {
    irsp = await ChaosIrsp.create();
    untrust = trustCaForXmppClients(irsp.ca);
    http = new TestClient(irsp.ca);
    const apps = new DefaultApplication(http);
    const app = irsp.as.applicationServers[0]!;
    await irsp.start('message-server');
    let appServer: ServiceProcess = await irsp.start('application-server');
    await irsp.registerAtMessageServer('alice');
    await irsp.registerAtMessageServer('#meter');
    const alice = await login(irsp, 'alice');
    let meter = await login(irsp, '#meter');
    const expected = { alice: [] as string[], '#meter': ['online'] };

    const rounds = 3;
    const perRound = 21;
    for (let round = 0; round < rounds; round++) {
      // Uploads from both in parallel, so that the outbox has many in flight when the application server dies.
      const aliceUploads = (async () => {
        for (let i = 0; i < perRound; i++) {
          await upload(alice, `alice-${round}-${i}`);
          expected.alice.push(`alice-${round}-${i}`);
        }
      })();
      for (let i = 0; i < perRound / 3; i++) {
        await upload(meter, `meter-${round}-${i}`);
        expected['#meter'].push(`meter-${round}-${i}`);
        if (round === 1 && i === 2) await appServer.kill();
      }
      await aliceUploads;
      if (round === 1) {
        // Offline and online again while the application server is down: Messages 11 and 10 queue behind the uploads.
        await meter.stop();
        clients.splice(clients.indexOf(meter), 1);
        expected['#meter'].push('offline');
        meter = await login(irsp, '#meter');
        expected['#meter'].push('online');
        appServer = await irsp.start('application-server');
      }
    }

    const total = expected.alice.length + expected['#meter'].length;
    await expect
      .poll(async () => byKey(await apps.received(app)).sequences.get('alice')?.length ?? 0, {
        timeout: 90_000,
        interval: 500,
      })
      .toBe(expected.alice.length);
    await expect
      .poll(async () => byKey(await apps.received(app)).sequences.get('#meter')?.length ?? 0, {
        timeout: 90_000,
        interval: 500,
      })
      .toBe(expected['#meter'].length);
    const received = await apps.received(app);
    const { sequences, repeats } = byKey(received);
    expect(Object.fromEntries(sequences)).toEqual(expected);
    expect(received.length).toBe(total + repeats);
    // Every notification came marked; a repeat was counted above only as a marked retry.
    expect(received.filter((r) => !r.delivery)).toEqual([]);
    expect(received.map((r) => r.message).filter((m) => ![8, 9, 10, 11].includes(m))).toEqual([]);
  }, 240_000);
});
