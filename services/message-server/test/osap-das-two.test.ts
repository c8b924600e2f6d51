/**
 * Two DAS instances of one AS (decision 0022): two message servers on one database, each with an LBS and a DAS.
 * What they share is the database: a CONNECT accepted by one cannot be played again at the other, and a device
 * online at both is one device online (Message 10 once, Message 11 when its last connection ends).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { DEFAULT_GUESSING, type ApplicationServerConfig, type DasInstanceConfig } from '@irsp/config';
import { buildMessageServer, type MessageServer } from '@irsp/message-server';
import { dasConnectPassword, initialDeviceState, shareKey } from '@irsp/osap';
import { openTestDb, type Db } from '@irsp/store';
import {
  captureLogger,
  form,
  freePorts,
  serverTlsFor,
  tempDir,
  TestClient,
} from '../../../test/support/irsp.js';
import { authenticateAt, dasClosed, dasConnect, type DasAddress } from '../../../test/support/osap.js';
import { accountServerAuth, credentials, DOMAIN } from './fixture.js';

const ITERATIONS = 1000;
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
const servers: MessageServer[] = [];
const das: DasAddress[] = [];
let lbsPort: number;
let ca: string;
let http: TestClient;
let base: string;
const clients: MqttClient[] = [];

beforeAll(async () => {
  dir = await tempDir();
  const tls = await serverTlsFor(dir.path, 'ms-das-two', [DOMAIN]);
  ca = tls.ca;
  db = await openTestDb('msdastwo');
  const dasPorts = await freePorts(2);
  const instances: DasInstanceConfig[] = dasPorts.map((port) => ({
    host: '127.0.0.1',
    port,
    capacity: 100,
    enabled: true,
  }));
  for (const [i, port] of dasPorts.entries()) {
    const server = await buildMessageServer({
      domain: DOMAIN,
      config: {
        id: `ms${i + 1}`,
        url: 'https://127.0.0.1:1',
        listen: { host: '127.0.0.1', port: 0 },
        pushUri: '/push',
        credentials,
        osap: {
          lbs: { host: '127.0.0.1', port: 0, idleTimeoutMs: 10_000, exchangeTimeoutMs: 30_000 },
          protocol: { type: 1, group: [1, 2, 4, 8] },
          shareKeyIterations: ITERATIONS,
          das: instances,
          dasListener: {
            host: '127.0.0.1',
            port,
            maxHeartbeatSeconds: 60,
            maxDevices: 100,
            connectTimeoutMs: 5_000,
            maxPacketBytes: 288 * 1024,
            operationTimeoutMs: 30_000,
          },
        },
      },
      accountServerUrl: 'https://127.0.0.1:1',
      db,
      logger: captureLogger(`ms${i + 1}`).logger,
      tls,
      ca,
      outbox: { pollMs: 60_000 },
      applicationServers: [app],
      guessing: DEFAULT_GUESSING,
    });
    servers.push(server);
    const ports = await server.listen({ host: '127.0.0.1', port: 0 });
    das.push({ host: '127.0.0.1', port: ports.das!, ca });
    if (i === 0) {
      lbsPort = ports.lbs!;
      base = `https://127.0.0.1:${ports.http}`;
    }
  }
  http = new TestClient(ca);
}, 120_000);

afterAll(async () => {
  for (const client of clients) client.end(true);
  await http?.close();
  for (const server of servers) await server.close();
  await db?.close();
  await dir?.remove();
});

async function readyDevice(serial: string) {
  const answer = await http.post(
    `${base}/device/register`,
    form({ ...accountServerAuth, name: `#${serial}`, password: 'pw', verifycode: `code-${serial}` }),
  );
  expect(answer.status).toBe(200);
  const [connection] = await authenticateAt(
    { host: '127.0.0.1', port: lbsPort, ca },
    initialDeviceState({
      serialNumber: serial,
      shareKey: shareKey(`code-${serial}`, serial, { iterations: ITERATIONS }),
      supports: [{ protocolType: 1, protocolGroup: [1, 2, 4, 8] }],
    }),
  );
  const ready = connection!.atClose;
  if (ready.phase !== 'ready') throw new Error(ready.phase);
  return { local: `#${serial}`, devId: ready.device.devId!, sessionKey: ready.sessionKey, das: ready.das };
}

async function outbox(local: string) {
  const r = await db.query<{ operation: string }>(
    'SELECT operation FROM outbox WHERE ordering_key = $1 ORDER BY id',
    [`recorder:${local}`],
  );
  return r.rows.map((row) => row.operation);
}

async function connected(at: DasAddress, login: Parameters<typeof dasConnect>[1]): Promise<MqttClient> {
  const result = await dasConnect(at, login);
  if (!('client' in result)) throw new Error(`CONNACK ${result.code}`);
  clients.push(result.client);
  return result.client;
}

describe('two DAS instances on one database', () => {
  it('refuses at one DAS a CONNECT the other accepted (4), and takes the next counter there', async () => {
    const device = await readyDevice('cam-two-1');
    const password = dasConnectPassword(device.sessionKey, device.devId, 1);
    const first = await connected(das[0]!, { ...device, counter: 1, password });
    expect(await dasConnect(das[1]!, { ...device, counter: 1, password })).toEqual({ code: 4 });
    // The device moves to the other DAS with its next counter: one device online, not two.
    const second = await connected(das[1]!, { ...device, counter: 2 });
    await first.endAsync();
    await new Promise((r) => setTimeout(r, 200));
    expect(await outbox(device.local)).toEqual(['deviceOnline']);
    const closed = dasClosed(second);
    await second.endAsync();
    await closed;
    await expect.poll(() => outbox(device.local)).toEqual(['deviceOnline', 'deviceOffline']);
  });

  it('reports the device offline when the message server of its DAS stops', async () => {
    const device = await readyDevice('cam-two-2');
    const client = await connected(das[1]!, { ...device, counter: 1 });
    const closed = dasClosed(client);
    await servers.pop()!.close();
    await closed;
    await expect.poll(() => outbox(device.local)).toEqual(['deviceOnline', 'deviceOffline']);
    // …and, re-authenticating, the LBS sends it to the DAS that still answers.
    for (let i = 0; i < 3; i++) {
      const again = await readyDevice(`cam-two-3${i}`);
      expect(again.das).toEqual({ host: '127.0.0.1', port: das[0]!.port });
    }
    await connected(das[0]!, { ...device, counter: 2 });
    await expect.poll(() => outbox(device.local)).toEqual(['deviceOnline', 'deviceOffline', 'deviceOnline']);
  });
});
