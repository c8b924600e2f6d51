/**
 * The OSAP DAS of a message server (decision 0022) over real TLS sockets: devices authenticated at the LBS connect
 * with MQTT (mqtt.js); each refused CONNECT has its CONNACK code; a device cannot use another's topics; tampered,
 * truncated and replayed payloads close the connection; missed heartbeats end it; online, event and offline are
 * Messages 10, 9 and 11 in the outbox, in that order.
 */
import { connect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { DEFAULT_GUESSING, type ApplicationServerConfig } from '@irsp/config';
import { buildMessageServer, type MessageServer } from '@irsp/message-server';
import {
  dasConnectPassword,
  dasTopic,
  initialDeviceState,
  openBusinessPayload,
  sealBusinessPayload,
  shareKey,
  type DeviceState,
} from '@irsp/osap';
import { openTestDb, type Db } from '@irsp/store';
import {
  captureLogger,
  form,
  freePorts,
  serverTlsFor,
  tempDir,
  TestClient,
} from '../../../test/support/irsp.js';
import {
  authenticateAt,
  dasClosed,
  dasConnect,
  silentDasConnect,
  type DasAddress,
  type DasLogin,
} from '../../../test/support/osap.js';
import { accountServerAuth, credentials, DOMAIN } from './fixture.js';

const ITERATIONS = 1000;
const MAX_DEVICES = 4;
const app: ApplicationServerConfig = {
  name: 'recorder',
  url: 'https://127.0.0.1:1',
  listen: { host: '127.0.0.1', port: 0 },
  jid: `recorder.${DOMAIN}`,
  credentials: { appid: 'recorder', token: 'recorder-token-0123456789' },
  deviceStatus: true,
  serviceUris: { userUpload: '/u', deviceUpload: '/d', deviceStatus: '/s', exchange: '/x' },
};

let dir: Awaited<ReturnType<typeof tempDir>>;
let db: Db;
let server: MessageServer;
let das: DasAddress;
let lbsPort: number;
let http: TestClient;
let base: string;
let log: ReturnType<typeof captureLogger>;
const clients: MqttClient[] = [];

beforeAll(async () => {
  dir = await tempDir();
  const tls = await serverTlsFor(dir.path, 'ms-das', [DOMAIN]);
  db = await openTestDb('msdas');
  log = captureLogger('message-server');
  // The LBS must hand out the DAS's real address, so its port is drawn before the configuration is written.
  const [dasPort] = await freePorts(1);
  server = await buildMessageServer({
    domain: DOMAIN,
    config: {
      id: 'ms1',
      url: 'https://127.0.0.1:1',
      listen: { host: '127.0.0.1', port: 0 },
      pushUri: '/push',
      credentials,
      osap: {
        lbs: { host: '127.0.0.1', port: 0, idleTimeoutMs: 10_000, exchangeTimeoutMs: 30_000 },
        protocol: { type: 1, group: [1, 2, 4, 8] },
        shareKeyIterations: ITERATIONS,
        das: [{ host: '127.0.0.1', port: dasPort!, capacity: 100, enabled: true }],
        dasListener: {
          host: '127.0.0.1',
          port: dasPort!,
          maxHeartbeatSeconds: 60,
          maxDevices: MAX_DEVICES,
          connectTimeoutMs: 5_000,
          maxPacketBytes: 288 * 1024,
          operationTimeoutMs: 30_000,
        },
      },
    },
    accountServerUrl: 'https://127.0.0.1:1',
    db,
    logger: log.logger,
    tls,
    ca: tls.ca,
    // Nothing answers at the application server: the outbox keeps what it queued, in order, for the assertions.
    outbox: { pollMs: 60_000 },
    applicationServers: [app],
    guessing: DEFAULT_GUESSING,
  });
  const ports = await server.listen({ host: '127.0.0.1', port: 0 });
  expect(ports.das).toBe(dasPort);
  lbsPort = ports.lbs!;
  das = { host: '127.0.0.1', port: ports.das!, ca: tls.ca };
  http = new TestClient(tls.ca);
  base = `https://127.0.0.1:${ports.http}`;
}, 120_000);

afterAll(async () => {
  for (const client of clients) client.end(true);
  await http?.close();
  await server?.close();
  await db?.close();
  await dir?.remove();
});

interface Device {
  local: string;
  devId: string;
  sessionKey: Uint8Array;
  /** The next counter the device uses (CONNECT and business payloads share it). */
  counter: number;
}

/** Registers `#serial` (Message 2) and authenticates it at the LBS; the LBS sends it to this DAS. */
async function readyDevice(serial: string): Promise<Device> {
  const answer = await http.post(
    `${base}/device/register`,
    form({
      ...accountServerAuth,
      name: `#${serial}`,
      password: `${serial} pw`,
      verifycode: `code-${serial}`,
    }),
  );
  expect(answer.status).toBe(200);
  const start: DeviceState = initialDeviceState({
    serialNumber: serial,
    shareKey: shareKey(`code-${serial}`, serial, { iterations: ITERATIONS }),
    supports: [{ protocolType: 1, protocolGroup: [1, 2, 4, 8] }],
  });
  const connections = await authenticateAt({ host: '127.0.0.1', port: lbsPort, ca: das.ca }, start);
  const ready = connections.at(-1)!.atClose;
  if (ready.phase !== 'ready') throw new Error(`LBS: ${ready.phase}`);
  expect(ready.das).toEqual({ host: das.host, port: das.port });
  return { local: `#${serial}`, devId: ready.device.devId!, sessionKey: ready.sessionKey, counter: 1 };
}

async function online(device: Device, login: Partial<DasLogin> = {}): Promise<MqttClient> {
  const result = await dasConnect(das, { ...device, counter: device.counter++, ...login });
  if (!('client' in result)) throw new Error(`CONNACK ${result.code}`);
  clients.push(result.client);
  return result.client;
}

const connack = async (login: DasLogin) => {
  const result = await dasConnect(das, login);
  if ('client' in result) clients.push(result.client);
  return result.code;
};

function payload(device: Device, channel: 'event' | 'attribute', body: string, counter = device.counter++) {
  const topic = dasTopic(device.devId, channel, 'deviceToPlatform');
  return {
    topic,
    bytes: Buffer.from(
      sealBusinessPayload(
        { sessionKey: device.sessionKey, topic, direction: 'deviceToPlatform', counter },
        Buffer.from(body),
      ),
    ),
  };
}

const publish = (client: MqttClient, topic: string, bytes: Buffer) =>
  client.publishAsync(topic, bytes, { qos: 1 });

async function outbox(local: string) {
  const r = await db.query<{ operation: string; params: Record<string, string> }>(
    'SELECT operation, params FROM outbox WHERE ordering_key = $1 ORDER BY id',
    [`recorder:${local}`],
  );
  return r.rows.map((row) => [row.operation, row.params.data ?? row.params.type]);
}

async function sessions(local: string) {
  const r = await db.query<{ resource: string }>(
    'SELECT resource FROM online_sessions WHERE local_part = $1',
    [local],
  );
  return r.rows.map((row) => row.resource);
}

async function until(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 25));
  }
}

const refusals = (reason: string) => log.lines.filter((l) => l.includes(`osap das refused: ${reason}`));

describe('OSAP DAS: CONNECT', () => {
  it('takes a device sent by the LBS: online session, Message 10, an event as Message 9; DISCONNECT: Message 11', async () => {
    const device = await readyDevice('cam-0001');
    const client = await online(device);
    expect(await sessions(device.local)).toEqual([expect.stringMatching(/^osap-[0-9a-f]{12}$/)]);
    const event = payload(device, 'event', 'motion detected');
    await publish(client, event.topic, event.bytes);
    expect(await outbox(device.local)).toEqual([
      ['deviceOnline', 'online'],
      ['deviceUpload', 'motion detected'],
    ]);
    await client.endAsync();
    await until(async () => (await outbox(device.local)).length === 3);
    expect(await outbox(device.local)).toEqual([
      ['deviceOnline', 'online'],
      ['deviceUpload', 'motion detected'],
      ['deviceOffline', 'offline'],
    ]);
    expect(await sessions(device.local)).toEqual([]);
  });

  it('refuses each bad CONNECT with its CONNACK return code, and logs none of the keys', async () => {
    const device = await readyDevice('cam-0002');
    const good = { devId: device.devId, sessionKey: device.sessionKey };
    const otherKey = device.sessionKey.map((b) => b ^ 0xff);
    // 2 identifier rejected: a DevID nobody issued.
    expect(await connack({ devId: 'AAAAAAAAAAAAAAAA', sessionKey: device.sessionKey, counter: 1 })).toBe(2);
    // 4 bad user name or password: a proof under another key, a malformed password, no user name.
    expect(await connack({ ...good, sessionKey: otherKey, counter: 5 })).toBe(4);
    expect(await connack({ ...good, counter: 5, password: 'session key please' })).toBe(4);
    // 5 not authorized: a valid proof for this DevID, with another client identifier.
    expect(await connack({ ...good, counter: 5, clientId: 'someone-else' })).toBe(5);
    // The proof it carried was never accepted: counter 5 is still free.
    const client = await online(device, { counter: 5 });
    // 4: the same CONNECT again (replayed), and an older counter.
    expect(await connack({ ...good, counter: 5 })).toBe(4);
    expect(await connack({ ...good, counter: 3 })).toBe(4);
    expect(client.connected).toBe(true);
    expect(refusals('unknown DevID')).toHaveLength(1);
    expect(refusals('wrong proof')).toHaveLength(1);
    expect(refusals('malformed password')).toHaveLength(1);
    expect(refusals('client identifier is not the DevID')).toHaveLength(1);
    expect(refusals('replayed or stale CONNECT')).toHaveLength(2);
    const secrets = [device.sessionKey, otherKey].map((k) => Buffer.from(k).toString('hex'));
    const password = dasConnectPassword(device.sessionKey, device.devId, 5).split('.')[1]!;
    for (const line of log.lines) {
      for (const secret of [...secrets, password]) expect(line).not.toContain(secret);
    }
    await client.endAsync();
  });

  it('closes a connection that sends more than 16 KiB before its CONNECT is accepted', async () => {
    const socket = connect({ host: das.host, port: das.port, ca: das.ca, servername: 'localhost' });
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => undefined);
    // A CONNECT announcing 2 MiB, then its first 32 KiB: aedes would buffer all of it.
    socket.write(Buffer.concat([Buffer.of(0x10, 0x80, 0x80, 0x80, 0x01), Buffer.alloc(32 * 1024, 0x41)]));
    await closed;
    expect(refusals('too many bytes before CONNACK')).toHaveLength(1);
  });

  it('answers 3 (server unavailable) when maxDevices devices are connected', async () => {
    await until(async () => (await db.query('SELECT 1 FROM online_sessions')).rows.length === 0);
    const devices = await Promise.all(
      ['cam-0100', 'cam-0101', 'cam-0102', 'cam-0103', 'cam-0104'].map(readyDevice),
    );
    const connected = [];
    for (const device of devices.slice(0, MAX_DEVICES)) connected.push(await online(device));
    const last = devices[MAX_DEVICES]!;
    expect(await connack({ ...last, counter: last.counter })).toBe(3);
    expect(refusals('full')).toHaveLength(1);
    await connected[0]!.endAsync();
    await until(async () => (await sessions(devices[0]!.local)).length === 0);
    // A place came free; the refused counter was never taken.
    const client = await online(last);
    for (const c of [client, ...connected.slice(1)]) await c.endAsync();
  });
});

describe('OSAP DAS: one device, connections in turn', () => {
  it('lets a new CONNECT of the device take over: the old connection closes, the device stays online', async () => {
    const device = await readyDevice('cam-0600');
    const first = await online(device);
    const firstClosed = dasClosed(first);
    const second = await online(device);
    await firstClosed;
    await until(async () => (await sessions(device.local)).length === 1);
    const event = payload(device, 'event', 'still here');
    await publish(second, event.topic, event.bytes);
    expect(await outbox(device.local)).toEqual([
      ['deviceOnline', 'online'],
      ['deviceUpload', 'still here'],
    ]);
    await second.endAsync();
    await until(async () => (await outbox(device.local)).length === 3);
    expect((await outbox(device.local))[2]).toEqual(['deviceOffline', 'offline']);
  });

  it('does not publish a will, even a valid event: the loss of the connection is Message 11', async () => {
    const device = await readyDevice('cam-0601');
    const willTopic = dasTopic(device.devId, 'event', 'deviceToPlatform');
    const counter = device.counter++;
    // Sealed above the CONNECT's counter, so it would open: were it published, it would be Message 9.
    const will = { topic: willTopic, payload: payload(device, 'event', 'gone').bytes };
    const result = await dasConnect(das, { ...device, counter, will });
    if (!('client' in result)) throw new Error(`CONNACK ${result.code}`);
    const closed = dasClosed(result.client);
    result.client.stream.destroy();
    await closed;
    await until(async () => (await outbox(device.local)).length === 2);
    await new Promise((r) => setTimeout(r, 200));
    expect(await outbox(device.local)).toEqual([
      ['deviceOnline', 'online'],
      ['deviceOffline', 'offline'],
    ]);
  });
});

describe('OSAP DAS: topics and payloads', () => {
  it('lets a device subscribe only to its own down topics', async () => {
    const a = await readyDevice('cam-0200');
    const b = await readyDevice('cam-0201');
    const client = await online(a);
    // SUBACK per filter: 0 granted (QoS 0), 0x80 refused.
    const suback = (topic: string) =>
      new Promise<number | undefined>((resolve) =>
        client.subscribe(topic, { qos: 0 }, (error, granted) =>
          resolve(
            error
              ? (error as Error & { packet?: { granted: number[] } }).packet?.granted[0]
              : granted?.[0]?.qos,
          ),
        ),
      );
    const granted = [];
    for (const topic of [
      dasTopic(a.devId, 'operation', 'platformToDevice'),
      dasTopic(b.devId, 'operation', 'platformToDevice'),
      dasTopic(a.devId, 'event', 'deviceToPlatform'),
      'osap/+/operation/down',
      '#',
    ])
      granted.push(await suback(topic));
    expect(granted).toEqual([0, 128, 128, 128, 128]);
    expect(refusals('subscription to a topic not its own')).toHaveLength(4);
    expect(client.connected).toBe(true);
    await client.endAsync();
  });

  it("closes a device that publishes on another device's topic, and forwards nothing", async () => {
    const a = await readyDevice('cam-0300');
    const b = await readyDevice('cam-0301');
    const client = await online(a);
    const closed = dasClosed(client);
    const forged = payload(b, 'event', 'not from b');
    client.publish(forged.topic, forged.bytes, { qos: 1 });
    await closed;
    expect(refusals('publish on a topic not its own')).toHaveLength(1);
    await until(async () => (await outbox(a.local)).length === 2);
    expect(await outbox(a.local)).toEqual([
      ['deviceOnline', 'online'],
      ['deviceOffline', 'offline'],
    ]);
    expect(await outbox(b.local)).toEqual([]);
  });

  it('closes the connection on a tampered, truncated or replayed payload, and takes what came before', async () => {
    const device = await readyDevice('cam-0400');
    const cases: [string, (event: ReturnType<typeof payload>) => Buffer, string][] = [
      [
        'tampered',
        (e) => Buffer.concat([e.bytes.subarray(0, -1), Buffer.of(e.bytes.at(-1)! ^ 1)]),
        'integrity',
      ],
      ['truncated', (e) => e.bytes.subarray(0, 20), 'malformed'],
    ];
    const events: string[] = [];
    for (const [name, change, code] of cases) {
      const client = await online(device);
      const event = payload(device, 'event', `before ${name}`);
      await publish(client, event.topic, event.bytes);
      events.push(`before ${name}`);
      const closed = dasClosed(client);
      const bad = payload(device, 'event', name);
      client.publish(bad.topic, change(bad), { qos: 1 });
      await closed;
      expect(refusals(`business payload ${code}`)).toHaveLength(1);
    }
    // Replays: the same payload twice, and a payload from an earlier connection (counter below this CONNECT's).
    const old = payload(device, 'event', 'old');
    const client = await online(device);
    const fresh = payload(device, 'event', 'fresh');
    await publish(client, fresh.topic, fresh.bytes);
    events.push('fresh');
    let closed = dasClosed(client);
    client.publish(fresh.topic, fresh.bytes, { qos: 1 });
    await closed;
    const again = await online(device);
    closed = dasClosed(again);
    again.publish(old.topic, old.bytes, { qos: 1 });
    await closed;
    expect(refusals('business payload replay')).toHaveLength(2);
    await until(async () => (await sessions(device.local)).length === 0);
    const rows = await outbox(device.local);
    expect(rows.filter(([op]) => op === 'deviceUpload').map(([, data]) => data)).toEqual(events);
    // Every connection: online then offline, each 11 after its 10.
    expect(rows.filter(([op]) => op !== 'deviceUpload').map(([op]) => op)).toEqual(
      Array.from({ length: 4 }, () => ['deviceOnline', 'deviceOffline']).flat(),
    );
  });
});

describe('OSAP DAS: Message 13 on the operation channel', () => {
  const push = (deviceid: string, data: string) =>
    http.post(
      `${base}/push`,
      form({ version: '1', appid: app.credentials.appid, token: app.credentials.token, deviceid, data }),
    );
  const offline = async (owner: string) =>
    (await db.query('SELECT 1 FROM offline_messages WHERE owner = $1', [owner])).rows.length;

  it('publishes pushes as operations with increasing counters; one before the subscription waits for it', async () => {
    const device = await readyDevice('cam-0700');
    const client = await online(device);
    const down = dasTopic(device.devId, 'operation', 'platformToDevice');
    // Not listening yet: the push waits for the subscription (decision 0027), neither lost nor stored.
    expect((await push(device.local, 'before subscribing')).status).toBe(200);
    expect(await offline(device.local)).toBe(0);
    const heard: Buffer[] = [];
    client.on('message', (_topic, bytes) => heard.push(bytes));
    await client.subscribeAsync(down, { qos: 1 });
    for (const data of ['siren on', 'siren off']) expect((await push(device.local, data)).status).toBe(200);
    await until(async () => heard.length === 3);
    let lastCounter = 0;
    const opened = heard.map((bytes) => {
      const result = openBusinessPayload(
        { sessionKey: device.sessionKey, topic: down, direction: 'platformToDevice', lastCounter },
        new Uint8Array(bytes),
      );
      if (!result.ok) throw new Error(result.error.code);
      lastCounter = result.value.counter;
      const body = JSON.parse(Buffer.from(result.value.body).toString('utf8')) as Record<string, string>;
      expect(body.id).toMatch(/^[A-Za-z0-9_-]{12}$/);
      return [result.value.counter, body.from, body.data];
    });
    expect(opened).toEqual([
      [1, app.jid, 'before subscribing'],
      [2, app.jid, 'siren on'],
      [3, app.jid, 'siren off'],
    ]);
    expect(await offline(device.local)).toBe(0);
    await client.endAsync();
  });
});

describe('OSAP DAS: heartbeats', () => {
  it('ends a connection silent for 1.5 heartbeat intervals: Message 11 after the 10', async () => {
    const device = await readyDevice('cam-0500');
    const { connack, closedAfterMs } = await silentDasConnect(das, {
      ...device,
      counter: device.counter++,
    });
    expect(connack).toEqual(Buffer.of(0x20, 0x02, 0x00, 0x00));
    expect(closedAfterMs).toBeGreaterThanOrEqual(1_400);
    expect(closedAfterMs).toBeLessThan(3_000);
    await until(async () => (await outbox(device.local)).length === 2);
    expect(await outbox(device.local)).toEqual([
      ['deviceOnline', 'online'],
      ['deviceOffline', 'offline'],
    ]);
  });

  it('keeps a device that sends its heartbeats', async () => {
    const device = await readyDevice('cam-0501');
    const client = await online(device, { keepalive: 1 });
    await new Promise((r) => setTimeout(r, 2_500));
    expect(client.connected).toBe(true);
    expect(await outbox(device.local)).toEqual([['deviceOnline', 'online']]);
    await client.endAsync();
  });
});
