/**
 * The smart lock on a whole IRSP, by the real paths (ISO/IEC 14543-5-104 on 14543-5-8/-9): alice registers at the
 * account server and logs in over XMPP; a gateway (the simulator's BluetoothGateway, an IRSP device over XMPP) with a
 * lock is bound to her with its verification code and tells the smart-lock application so; alice's requests go as
 * XMPP messages to the application server (Message 8) and come back as messages from it (Message 12), the frames
 * travel through Messages 13 and 9 — and the door opens.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { xml } from '@xmpp/client';
import { accountServerFromTopology, type AccountServer } from '@irsp/account-server';
import { applicationServerFromTopology, type ApplicationServer } from '@irsp/application-server';
import { trustedCa, type Topology } from '@irsp/config';
import { messageServerFromTopology, type MessageServer } from '@irsp/message-server';
import { LockDevice } from '@irsp/smartlock';
import { BluetoothGateway } from '@irsp/smartlock-sim';
import {
  captureLogger,
  dropTopologySchemas,
  form,
  freePorts,
  tempDir,
  TestClient,
  twoAsTopology,
} from './support/irsp.js';
import { importFactoryRecords, inSeconds, RacOverXmpp } from './support/smartlock.js';
import { trustCaForXmppClients, XmppInbox, xmppLogin } from './support/xmpp.js';

const AS1 = 'as1.irsp.test';
const RAS = `default.${AS1}`;
const LOCK_ID = '00a1b2c3d4e5f607';
const KEY = Buffer.alloc(16, 0x42);

let dir: Awaited<ReturnType<typeof tempDir>>;
let topology: Topology;
let http: TestClient;
let untrust: () => void;
let accountServer: AccountServer;
let ms1: MessageServer;
let app1: ApplicationServer;
let c2s: number;
let gateway: BluetoothGateway;
let alice: XmppInbox;
let rac: RacOverXmpp;
const lock = new LockDevice(LOCK_ID, KEY);
const log = captureLogger('irsp');
beforeAll(async () => {
  dir = await tempDir();
  const ports = await freePorts(6);
  c2s = ports[5]!;
  topology = twoAsTopology({
    tlsDir: `${dir.path}/tls`,
    dataDir: `${dir.path}/data`,
    ports: { accountServer: ports[0]!, ms1: ports[1]!, ms2: ports[2]!, app1: ports[3]!, app2: ports[4]! },
    xmpp: { ms1: { c2sPort: c2s } },
  });
  const as1 = topology.autonomousSystems[0]!;
  as1.applicationServers[0]!.applications = ['recorder', 'smartlock'];
  const ca = await trustedCa(topology);
  untrust = trustCaForXmppClients(ca);
  http = new TestClient(ca);
  await Promise.all([
    (async () => {
      accountServer = await accountServerFromTopology(
        topology,
        log.logger.child({ service: 'account-server' }),
      );
      await accountServer.listen(topology.accountServer.listen);
    })(),
    (async () => {
      ms1 = await messageServerFromTopology(topology, as1, as1.messageServers[0]!, log.logger);
      await ms1.listen();
    })(),
    (async () => {
      app1 = await applicationServerFromTopology(topology, as1, as1.applicationServers[0]!, log.logger);
      await app1.listen();
    })(),
  ]);
}, 60_000);

afterAll(async () => {
  await gateway?.stop();
  await alice?.client.stop().catch(() => undefined);
  await app1?.close();
  await ms1?.close();
  await accountServer?.close();
  await http?.close();
  untrust?.();
  if (topology) await dropTopologySchemas(topology);
  await dir?.remove();
});

describe('a door opened from a phone, through the IRSP', () => {
  it('alice and the gateway are registered at the account server (Messages 1 and 2); the lock is known to the RAS', async () => {
    const api = (path: string, fields: Record<string, string>) =>
      http.post(`${topology.accountServer.url}${path}`, form(fields));
    expect((await api('/user/register.xml', { userid: `alice@${AS1}`, password: 'alice pw' })).status).toBe(
      200,
    );
    expect(
      (
        await api('/device/register', {
          deviceid: `#bgw-hall@${AS1}`,
          password: 'bgw pw',
          verifycode: 'bgw-1234',
        })
      ).status,
    ).toBe(200);
    const ras = topology.autonomousSystems[0]!.applicationServers[0]!;
    expect(await importFactoryRecords(http, ras, [{ lockId: LOCK_ID, key: KEY }])).toEqual({
      status: 200,
      body: '{"imported":1}',
    });
  });

  it('the gateway logs in, alice binds it with its verification code, and it tells the RAS she owns it', async () => {
    gateway = new BluetoothGateway({
      service: `xmpp://127.0.0.1:${c2s}`,
      domain: AS1,
      deviceid: '#bgw-hall',
      password: 'bgw pw',
      ras: RAS,
      locks: [lock],
      logger: log.logger.child({ service: 'bgw' }),
    });
    await gateway.start();
    alice = new XmppInbox(
      await xmppLogin({ port: c2s, domain: AS1, username: 'alice', password: 'alice pw', resource: 'phone' }),
    );
    rac = new RacOverXmpp(alice, RAS);
    await alice.client.send(xml('presence'));
    await alice.client.send(
      xml(
        'presence',
        { to: `#bgw-hall@${AS1}`, type: 'subscribe' },
        xml('verifycode', { xmlns: 'urn:irsp:verifycode:0' }, 'bgw-1234'),
      ),
    );
    await alice.next((s) => s.is('presence') && s.attrs.type === 'subscribed');
    await expect
      .poll(
        async () =>
          (
            await app1.context.db.query<{ owner: string | null }>(
              `SELECT owner FROM smartlock_gateways WHERE deviceid = '#bgw-hall'`,
            )
          ).rows[0]?.owner,
        { timeout: 10_000 },
      )
      .toBe(`alice@${AS1}`);
  });

  it('alice joins the application, finds and registers the lock, and unlocks it', async () => {
    expect(await rac.ask('userRegister', { displayName: 'Alice', pin: '246810' })).toMatchObject({
      status: 1000,
    });
    expect(await rac.ask('userAuthenticate', { pin: '246810' })).toMatchObject({ status: 1000 });
    expect(await rac.ask('lockDiscover', { gatewayId: '#bgw-hall', seconds: 1 })).toMatchObject({
      status: 1000,
      body: { locks: [{ lockId: LOCK_ID, registered: false }] },
    });
    expect(
      await rac.ask('lockAuthenticate', {
        gatewayId: '#bgw-hall',
        lockId: LOCK_ID,
        activationCode: 'K7Q2M9XW4P',
      }),
    ).toMatchObject({ status: 1000 });
    expect(
      await rac.ask('lockRegister', { gatewayId: '#bgw-hall', lockId: LOCK_ID, name: 'Front door' }),
    ).toMatchObject({ status: 1000 });
    expect(lock.users).toEqual([`alice@${AS1}`]);
    const accepted = await rac.ask('lockControl', {
      lockId: LOCK_ID,
      action: 'unlock',
      deadline: inSeconds(30),
    });
    expect(accepted).toMatchObject({ status: 1001 });
    expect(
      await rac.fromRas((m) => m.event === 'commandResult' && m.requestId === accepted.id),
    ).toMatchObject({
      status: 1000,
      state: 'unlocked',
    });
    expect(lock.bolt).toBe('unlocked');
  }, 60_000);
});
