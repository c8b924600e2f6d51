/**
 * The OSAP bridge across the message servers of one AS (decisions 0024, 0027), on real NATS (127.0.0.1:4222, or
 * NATS_URL) and one shared database: the device is connected to the DAS of server B, its owner to server A. The
 * DAS session is in the cluster's registry like any session, so its presence, the owner's operation and its result,
 * and an application server's Message 13 sent to A cross the bus; aedes' state is not shared, and need not be.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { xml, type Client, type XmlElement } from '@xmpp/client';
import type { ApplicationServerConfig, ClusterConfig } from '@irsp/config';
import type { OperationDown, ProtocolGroup } from '@irsp/osap';
import { OsapDevice } from '@irsp/osap-device';
import { openTestDb, type Db } from '@irsp/store';
import { form, freePorts, tempDir } from '../../../test/support/irsp.js';
import { XmppInbox, xmppLogin } from '../../../test/support/xmpp.js';
import { startXmppMessageServer, type XmppFixture } from './fixture.js';

const OSAP = 'urn:irsp:osap:0';
const NATS = process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222';
const domain = `o${randomBytes(5).toString('hex')}.irsp.test`;
const cluster: ClusterConfig = { nats: [NATS], secret: randomBytes(24).toString('base64') };
const ITERATIONS = 1000;
const PROTOCOL: { type: number; group: ProtocolGroup } = { type: 1, group: [1, 2, 4, 8] };
const CAM = `#cam@${domain}`;
const app: ApplicationServerConfig = {
  name: 'recorder',
  url: 'https://127.0.0.1:1',
  listen: { host: '127.0.0.1', port: 0 },
  jid: `recorder.${domain}`,
  credentials: { appid: 'recorder', token: 'recorder-token-0123456789' },
  deviceStatus: true,
  serviceUris: { userUpload: '/u', deviceUpload: '/d', deviceStatus: '/s', exchange: '/x' },
};

let db: Db;
let tls: Awaited<ReturnType<typeof tempDir>>;
let a: XmppFixture;
let b: XmppFixture;
let olivia: { client: Client; inbox: XmppInbox };
let cam: OsapDevice;
const operations: OperationDown[] = [];

beforeAll(async () => {
  db = await openTestDb('msosapcluster');
  tls = await tempDir();
  const [dasPort] = await freePorts(1);
  const common = { domain, db, tlsDir: tls.path, cluster, applicationServers: [app] };
  a = await startXmppMessageServer({ ...common, id: 'ms-a' });
  b = await startXmppMessageServer({
    ...common,
    id: 'ms-b',
    osap: {
      lbs: { host: '127.0.0.1', port: 0, idleTimeoutMs: 10_000, exchangeTimeoutMs: 30_000 },
      protocol: PROTOCOL,
      shareKeyIterations: ITERATIONS,
      das: [{ host: '127.0.0.1', port: dasPort!, capacity: 100, enabled: true }],
      dasListener: {
        host: '127.0.0.1',
        port: dasPort!,
        maxHeartbeatSeconds: 60,
        maxDevices: 10,
        connectTimeoutMs: 5_000,
        maxPacketBytes: 288 * 1024,
        operationTimeoutMs: 10_000,
      },
    },
  });
  await a.register('olivia', 'olivia pw');
  // Through B, whose share key rounds its LBS expects.
  await b.register('#cam', '#cam pw', { verifycode: 'cam-code' });
  // olivia is related to the camera and its owner (as a binding with its code leaves them).
  for (const [owner, contact] of [
    ['olivia', CAM],
    ['#cam', `olivia@${domain}`],
  ] as const)
    await db.query(`INSERT INTO roster (owner, contact, subscription, ask) VALUES ($1, $2, 'both', false)`, [
      owner,
      contact,
    ]);
  await db.query('INSERT INTO device_owners (device, owner) VALUES ($1, $2)', ['#cam', `olivia@${domain}`]);
  const client = await xmppLogin({ port: a.c2sPort, domain, username: 'olivia', password: 'olivia pw' });
  olivia = { client, inbox: new XmppInbox(client) };
  await client.send(xml('presence'));
  cam = new OsapDevice({
    serialNumber: 'cam',
    verificationCode: 'cam-code',
    lbs: { host: '127.0.0.1', port: b.lbsPort! },
    ca: b.ca,
    supports: [{ protocolType: PROTOCOL.type, protocolGroup: PROTOCOL.group }],
    shareKeyIterations: ITERATIONS,
    onOperation: (operation) => {
      operations.push(operation);
      return `done: ${operation.data}`;
    },
  });
  await cam.authenticate();
}, 120_000);

afterAll(async () => {
  await cam?.disconnect();
  await olivia?.client.stop().catch(() => undefined);
  await b?.close();
  await a?.close();
  await db?.close();
  await tls?.remove();
});

describe('an OSAP device on the DAS of another message server of the AS', () => {
  it('is seen, operated and pushed to through the cluster', async () => {
    await cam.connect();
    const available = await olivia.inbox.next(
      (s: XmlElement) =>
        s.is('presence') && s.attrs.type === undefined && s.attrs.from?.startsWith(`${CAM}/osap-`) === true,
    );
    // A knows the session is on B before it routes to it.
    const resource = available.attrs.from!.slice(CAM.length + 1);
    await expect.poll(() => a.server.context.router.sessions.remoteResource('#cam', resource)).toBe('ms-b');

    await olivia.client.send(
      xml('iq', { type: 'set', id: 'op1', to: CAM }, xml('operate', { xmlns: OSAP }, 'siren on')),
    );
    const answer = await olivia.inbox.next((s) => s.is('iq') && s.attrs.id === 'op1', 10_000);
    expect(answer.attrs.type).toBe('result');
    expect(answer.getChildText('result', OSAP)).toBe('done: siren on');

    const pushed = await a.http.post(
      `${a.base}/push`,
      form({
        version: '1',
        appid: app.credentials.appid,
        token: app.credentials.token,
        deviceid: '#cam',
        data: 'record',
      }),
    );
    expect(pushed.status).toBe(200);
    await expect
      .poll(() => operations.map((o) => [o.from, o.data]))
      .toEqual([
        [`olivia@${domain}`, 'siren on'],
        [app.jid, 'record'],
      ]);
    await cam.disconnect();
    await olivia.inbox.next(
      (s) => s.is('presence') && s.attrs.type === 'unavailable' && s.attrs.from === available.attrs.from,
    );
  });
});
