/**
 * An OSAP device end to end (issue 14 items 2, 4, 5): the device client (`@irsp/osap-device`) and the simulator
 * `pnpm osap:device` go LBS → DAS → events, operations (Message 13) → DISCONNECT against a message server and an application server on
 * loopback, and the application server receives Messages 10, 9 and 11 in order, as for an XMPP device; a device
 * that stops its heartbeats is reported offline (Message 11 after its 10).
 */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accountServerFromTopology, type AccountServer } from '@irsp/account-server';
import { applicationServerFromTopology, type ApplicationServer } from '@irsp/application-server';
import { caCertPath, trustedCa, type Topology } from '@irsp/config';
import { messageServerFromTopology, type MessageServer } from '@irsp/message-server';
import { initialDeviceState, shareKey } from '@irsp/osap';
import { OsapDevice } from '@irsp/osap-device';
import { DefaultApplication } from './support/default-app.js';
import {
  captureLogger,
  dropTopologySchemas,
  form,
  freePorts,
  tempDir,
  TestClient,
  twoAsTopology,
} from './support/irsp.js';
import { authenticateAt, silentDasConnect } from './support/osap.js';

const ITERATIONS = 1000;
const PROTOCOL = { type: 1, group: [1, 2, 4, 8] as (1 | 2 | 4 | 8)[] };
let dir: Awaited<ReturnType<typeof tempDir>>;
let topology: Topology;
let accountServer: AccountServer;
let messageServer: MessageServer;
let applicationServer: ApplicationServer;
let http: TestClient;
let apps: DefaultApplication;
let ca: string;
const log = captureLogger('irsp');

const as1 = () => topology.autonomousSystems[0]!;
const ms = () => as1().messageServers[0]!;
const app = () => as1().applicationServers[0]!;
const osap = () => ms().osap!;
const received = async (device: string) =>
  (await apps.receivedPairs(app())).filter(([, params]) => params.deviceid === device);

beforeAll(async () => {
  dir = await tempDir();
  const [accountPort, ms1, ms2, app1, app2, lbs, das] = await freePorts(7);
  topology = twoAsTopology({
    tlsDir: `${dir.path}/tls`,
    dataDir: `${dir.path}/data`,
    ports: { accountServer: accountPort!, ms1: ms1!, ms2: ms2!, app1: app1!, app2: app2! },
  });
  ms().osap = {
    lbs: { host: '127.0.0.1', port: lbs!, idleTimeoutMs: 10_000, exchangeTimeoutMs: 30_000 },
    protocol: PROTOCOL,
    shareKeyIterations: ITERATIONS,
    das: [{ host: '127.0.0.1', port: das!, capacity: 100, enabled: true }],
    dasListener: {
      host: '127.0.0.1',
      port: das!,
      maxHeartbeatSeconds: 60,
      maxDevices: 100,
      connectTimeoutMs: 5_000,
      maxPacketBytes: 288 * 1024,
      operationTimeoutMs: 30_000,
    },
  };
  ca = await trustedCa(topology);
  http = new TestClient(ca);
  apps = new DefaultApplication(http);
  accountServer = await accountServerFromTopology(topology, log.logger.child({ service: 'account-server' }));
  await accountServer.listen(topology.accountServer.listen);
  messageServer = await messageServerFromTopology(topology, as1(), ms(), log.logger.child({ service: 'ms' }));
  await messageServer.listen();
  applicationServer = await applicationServerFromTopology(
    topology,
    as1(),
    app(),
    log.logger.child({ service: 'app' }),
  );
  await applicationServer.listen();
}, 120_000);

afterAll(async () => {
  await applicationServer?.close();
  await messageServer?.close();
  await accountServer?.close();
  await http?.close();
  if (topology) await dropTopologySchemas(topology);
  await dir?.remove();
});

async function registerDevice(serial: string, code: string): Promise<void> {
  const answer = await http.post(
    `${topology.accountServer.url}/device/register`,
    form({ deviceid: `#${serial}@as1.irsp.test`, password: `${serial} pw`, verifycode: code }),
  );
  expect({ status: answer.status, body: answer.body }).toEqual({ status: 200, body: '' });
}

describe('an OSAP device in the IRSP', () => {
  it('comes online (Message 10), sends an event (9), leaves (11), re-authenticates and comes back', async () => {
    await registerDevice('cam-e2e', 'code-e2e');
    const operations: string[] = [];
    const device = new OsapDevice({
      // Each operation answered with a result: an application server's comes back to it as Message 9.
      onOperation: (operation) => {
        operations.push(`${operation.from} ${operation.data}`);
        return `done: ${operation.data}`;
      },
      serialNumber: 'cam-e2e',
      verificationCode: 'code-e2e',
      lbs: { host: osap().lbs.host, port: osap().lbs.port },
      ca,
      supports: [{ protocolType: PROTOCOL.type, protocolGroup: PROTOCOL.group }],
      shareKeyIterations: ITERATIONS,
    });
    const first = await device.authenticate();
    expect(first.das).toEqual({ host: '127.0.0.1', port: osap().dasListener!.port });
    await device.connect();
    await expect.poll(() => received('#cam-e2e')).toEqual([[10, { deviceid: '#cam-e2e', type: 'online' }]]);
    await device.event('motion at the door');
    // Message 13 from the application server reaches the device on its operation channel.
    expect(await apps.send(app(), { message: 13, id: '#cam-e2e', data: 'siren on' })).toEqual({
      status: 200,
      body: '{"outcome":"status","status":200}',
    });
    await expect.poll(() => operations).toEqual([`${app().jid} siren on`]);
    await expect
      .poll(() => received('#cam-e2e'))
      .toContainEqual([9, { deviceid: '#cam-e2e', data: 'done: siren on' }]);
    await device.disconnect();
    // Re-authentication (Refresh_SessionKey): same DevID, a new session key, counting from 1 again.
    const second = await device.authenticate();
    expect(second.devId).toBe(first.devId);
    await device.connect();
    await device.event('motion again');
    // Under the new session key the platform counts from 1 again, and the device takes it.
    expect((await apps.send(app(), { message: 13, id: '#cam-e2e', data: 'siren off' })).status).toBe(200);
    await expect.poll(() => operations).toEqual([`${app().jid} siren on`, `${app().jid} siren off`]);
    await expect
      .poll(() => received('#cam-e2e'))
      .toContainEqual([9, { deviceid: '#cam-e2e', data: 'done: siren off' }]);
    await device.disconnect();
    await expect
      .poll(() => received('#cam-e2e'), { timeout: 10_000 })
      .toEqual([
        [10, { deviceid: '#cam-e2e', type: 'online' }],
        [9, { deviceid: '#cam-e2e', data: 'motion at the door' }],
        [9, { deviceid: '#cam-e2e', data: 'done: siren on' }],
        [11, { deviceid: '#cam-e2e', type: 'offline' }],
        [10, { deviceid: '#cam-e2e', type: 'online' }],
        [9, { deviceid: '#cam-e2e', data: 'motion again' }],
        [9, { deviceid: '#cam-e2e', data: 'done: siren off' }],
        [11, { deviceid: '#cam-e2e', type: 'offline' }],
      ]);
  });

  it('is reported offline when its heartbeats stop: Message 11 after the 10', async () => {
    await registerDevice('cam-silent', 'code-silent');
    const [connection] = await authenticateAt(
      { ...osap().lbs, ca },
      initialDeviceState({
        serialNumber: 'cam-silent',
        shareKey: shareKey('code-silent', 'cam-silent', { iterations: ITERATIONS }),
        supports: [{ protocolType: PROTOCOL.type, protocolGroup: PROTOCOL.group }],
      }),
    );
    const ready = connection!.atClose;
    if (ready.phase !== 'ready') throw new Error(ready.phase);
    const { connack } = await silentDasConnect(
      { ...ready.das, ca },
      { devId: ready.device.devId!, sessionKey: ready.sessionKey, counter: 1 },
    );
    expect(connack).toEqual(Buffer.of(0x20, 0x02, 0x00, 0x00));
    await expect
      .poll(() => received('#cam-silent'), { timeout: 10_000 })
      .toEqual([
        [10, { deviceid: '#cam-silent', type: 'online' }],
        [11, { deviceid: '#cam-silent', type: 'offline' }],
      ]);
  });

  it('`pnpm osap:device --register --event … --seconds …` runs the whole flow from a manifest', async () => {
    const manifest = join(dir.path, 'manifest.json');
    await writeFile(
      manifest,
      JSON.stringify({
        caCert: caCertPath(topology),
        accountServer: { url: topology.accountServer.url },
        autonomousSystems: [
          {
            domain: as1().domain,
            messageServers: [
              {
                osap: {
                  lbs: { host: osap().lbs.host, port: osap().lbs.port },
                  protocol: PROTOCOL,
                  shareKeyIterations: ITERATIONS,
                },
              },
            ],
          },
        ],
      }),
    );
    const child = spawn(
      process.execPath,
      [
        'services/osap-device/dist/main.js',
        ...['--manifest', manifest, '--serial', 'cam-cli', '--code', 'code-cli', '--register'],
        ...['--event', 'hello from the simulator', '--attribute', 'battery=87', '--seconds', '1'],
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect({ code, output }).toMatchObject({ code: 0 });
    for (const message of [
      'registered',
      'authenticated at the LBS',
      'online at the DAS',
      'event sent',
      'attributes reported',
      'disconnected',
    ])
      expect(output).toContain(`"msg":"${message}"`);
    expect(output).not.toContain('code-cli');
    await expect
      .poll(() => received('#cam-cli'), { timeout: 10_000 })
      .toEqual([
        [10, { deviceid: '#cam-cli', type: 'online' }],
        [9, { deviceid: '#cam-cli', data: 'hello from the simulator' }],
        [11, { deviceid: '#cam-cli', type: 'offline' }],
      ]);
  });
});
