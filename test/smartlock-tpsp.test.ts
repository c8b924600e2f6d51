/**
 * The TPSP (ISO/IEC 14543-5-104 clause 6.6) through the IRSP's gateway to third-party servers (clause 8.8), on a
 * whole AS: a holiday-rental platform `rentals` is a third party of the application server `gateway`; alice links
 * her lock to it from her RAC; it then hears the lock's events as signed webhooks and grants a guest (carol) access
 * for a stay by a signed call, which the RAS writes into the lock like alice's own grant — and the stay ends.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { xml } from '@xmpp/client';
import { accountServerFromTopology, type AccountServer } from '@irsp/account-server';
import { applicationServerFromTopology, type ApplicationServer } from '@irsp/application-server';
import { trustedCa, type ApplicationServerConfig, type Topology } from '@irsp/config';
import { messageServerFromTopology, type MessageServer } from '@irsp/message-server';
import { SIGNATURE_HEADER, signatureMatches, webhookSchema } from '@irsp/protocol';
import { LockDevice, buildTpspRequest, parseTpspEvent, type TpspEvent } from '@irsp/smartlock';
import { BluetoothGateway } from '@irsp/smartlock-sim';
import {
  captureLogger,
  dropTopologySchemas,
  form,
  freePorts,
  serverTlsFor,
  tempDir,
  TestClient,
  twoAsTopology,
} from './support/irsp.js';
import { importFactoryRecords, inSeconds, isoSeconds, RacOverXmpp } from './support/smartlock.js';
import { callGateway } from './support/third-party.js';
import { trustCaForXmppClients, XmppInbox, xmppLogin } from './support/xmpp.js';

const AS1 = 'as1.irsp.test';
const RAS = `smartlock.${AS1}`;
const LOCK_ID = '00a1b2c3d4e5f607';
const OTHER_LOCK = '00a1b2c3d4e5f608';
const KEY = Buffer.alloc(16, 0x42);
const RENTALS_KEY = randomBytes(32).toString('base64url');

let dir: Awaited<ReturnType<typeof tempDir>>;
let topology: Topology;
let http: TestClient;
let untrust: () => void;
let accountServer: AccountServer;
let messageServer: MessageServer;
let smartlockServer: ApplicationServer;
let gatewayServer: ApplicationServer;
let hooks: Server;
let c2s: number;
let bgw: BluetoothGateway;
let alice: XmppInbox;
let carol: XmppInbox;
const lock = new LockDevice(LOCK_ID, KEY);
const log = captureLogger('irsp');
/** When carol's stay ends. */
let stayUntil: string;

/** What rentals received, its signature checked; the raw webhooks are kept for the checks of the envelope. */
const webhooks: { path: string; signature: unknown; body: string }[] = [];
const events = (): TpspEvent[] =>
  webhooks.map((w) => {
    const parsed = parseTpspEvent((JSON.parse(w.body) as { data: string }).data);
    if (!parsed.ok) throw new Error(`rentals got a malformed event: ${parsed.error.detail}`);
    return parsed.value;
  });

const as1 = () => topology.autonomousSystems[0]!;
const byName = (name: string): ApplicationServerConfig =>
  as1().applicationServers.find((a) => a.name === name)!;
const racs = new Map<XmppInbox, RacOverXmpp>();
/** The user as a RAC: requests to the RAS (Message 8), responses and pushes back (Message 12). */
const rac = (user: XmppInbox) => racs.get(user) ?? racs.set(user, new RacOverXmpp(user, RAS)).get(user)!;

/** rentals calls the gateway (Table 8 exchange to `smartlock`), signed with its key. */
const rentalsCalls = (userid: string, data: string) =>
  callGateway(http, byName('gateway'), {
    name: 'rentals',
    appid: 'rentals',
    key: RENTALS_KEY,
    operation: 'exchange',
    fields: { userid, data, to: 'smartlock' },
  });

/** Waits for the first event rentals received after `from` that matches. */
async function rentalsHears(match: (e: TpspEvent) => boolean, from = 0): Promise<TpspEvent> {
  let found: TpspEvent | undefined;
  await expect
    .poll(() => (found = events().slice(from).find(match)) !== undefined, { timeout: 15_000, interval: 50 })
    .toBe(true);
  return found!;
}

const grant = (id: string, lockId: string, guest: string, from: string, until: string) =>
  buildTpspRequest({
    id,
    operation: 'guestGrant',
    timestamp: isoSeconds(new Date()),
    body: { lockId, guest, from, until },
  });

beforeAll(async () => {
  dir = await tempDir();
  const [accountPort, ms1, ms2, app1, app2, smartlockPort, gatewayPort, hookPort, c2sPort] =
    await freePorts(9);
  c2s = c2sPort!;
  topology = twoAsTopology({
    tlsDir: `${dir.path}/tls`,
    dataDir: `${dir.path}/data`,
    ports: { accountServer: accountPort!, ms1: ms1!, ms2: ms2!, app1: app1!, app2: app2! },
    xmpp: { ms1: { c2sPort: c2s } },
  });
  const schema = as1().applicationServers[0]!.database!.schema;
  const server = (name: string, port: number) => ({
    name,
    url: `https://127.0.0.1:${port}`,
    listen: { host: '127.0.0.1', port },
    jid: `${name}.${AS1}`,
    credentials: { appid: `${name}-as1`, token: randomBytes(24).toString('base64url') },
    serviceUris: {
      userUpload: '/user/upload',
      deviceUpload: '/device/upload',
      deviceStatus: '/device/status',
      exchange: '/exchange',
    },
    database: { schema: `${schema}_${name}` },
  });
  as1().applicationServers.push(
    {
      ...server('smartlock', smartlockPort!),
      deviceStatus: true,
      applications: ['smartlock'],
      smartlock: { gateway: 'gateway' },
    },
    {
      ...server('gateway', gatewayPort!),
      deviceStatus: false,
      applications: ['gateway'],
      gateway: {
        thirdParties: [
          {
            name: 'rentals',
            appid: 'rentals',
            key: RENTALS_KEY,
            webhookUrl: `https://127.0.0.1:${hookPort}/hooks/irsp`,
            allow: { addresses: ['127.0.0.0/8'], messages: [14], targets: ['smartlock'] },
            forward: [14],
          },
        ],
      },
    },
  );
  const ca = await trustedCa(topology);
  untrust = trustCaForXmppClients(ca);
  http = new TestClient(ca);
  const tls = await serverTlsFor(`${dir.path}/tls`, 'rentals-hooks', []);
  hooks = createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      webhooks.push({
        path: req.url!,
        signature: req.headers[SIGNATURE_HEADER],
        body: Buffer.concat(chunks).toString(),
      });
      res.end();
    });
  });
  await new Promise<void>((resolve) => hooks.listen(hookPort, '127.0.0.1', resolve));
  accountServer = await accountServerFromTopology(topology, log.logger.child({ service: 'account-server' }));
  await accountServer.listen(topology.accountServer.listen);
  messageServer = await messageServerFromTopology(topology, as1(), as1().messageServers[0]!, log.logger);
  await messageServer.listen();
  smartlockServer = await applicationServerFromTopology(topology, as1(), byName('smartlock'), log.logger);
  await smartlockServer.listen();
  gatewayServer = await applicationServerFromTopology(topology, as1(), byName('gateway'), log.logger);
  await gatewayServer.listen();

  // alice, carol and the BGW are registered at the account server; the two locks' factory records are imported.
  const api = (path: string, fields: Record<string, string>) =>
    http.post(`${topology.accountServer.url}${path}`, form(fields));
  for (const user of ['alice', 'carol', 'dave'])
    expect(
      (await api('/user/register.xml', { userid: `${user}@${AS1}`, password: `${user} pw` })).status,
    ).toBe(200);
  expect(
    (
      await api('/device/register', {
        deviceid: `#bgw-hall@${AS1}`,
        password: 'bgw pw',
        verifycode: 'bgw-1234',
      })
    ).status,
  ).toBe(200);
  expect(
    await importFactoryRecords(http, byName('smartlock'), [
      { lockId: LOCK_ID, key: KEY },
      { lockId: OTHER_LOCK, key: KEY },
    ]),
  ).toEqual({ status: 200, body: '{"imported":2}' });
}, 60_000);

afterAll(async () => {
  await bgw?.stop();
  await alice?.client.stop().catch(() => undefined);
  await carol?.client.stop().catch(() => undefined);
  await gatewayServer?.close();
  await smartlockServer?.close();
  await messageServer?.close();
  await accountServer?.close();
  await new Promise((resolve) => hooks?.close(resolve));
  await http?.close();
  untrust?.();
  if (topology) await dropTopologySchemas(topology);
  await dir?.remove();
});

describe('a holiday-rental platform (TPSP) through the gateway to third-party servers', () => {
  it('the gateway logs in, alice binds it with its code and registers her lock; carol joins the application', async () => {
    bgw = new BluetoothGateway({
      service: `xmpp://127.0.0.1:${c2s}`,
      domain: AS1,
      deviceid: '#bgw-hall',
      password: 'bgw pw',
      ras: RAS,
      locks: [lock],
      logger: log.logger.child({ service: 'bgw' }),
    });
    await bgw.start();
    alice = new XmppInbox(
      await xmppLogin({ port: c2s, domain: AS1, username: 'alice', password: 'alice pw' }),
    );
    carol = new XmppInbox(
      await xmppLogin({ port: c2s, domain: AS1, username: 'carol', password: 'carol pw' }),
    );
    await alice.client.send(xml('presence'));
    await carol.client.send(xml('presence'));
    await alice.client.send(
      xml(
        'presence',
        { to: `#bgw-hall@${AS1}`, type: 'subscribe' },
        xml('verifycode', { xmlns: 'urn:irsp:verifycode:0' }, 'bgw-1234'),
      ),
    );
    await alice.next((s) => s.is('presence') && s.attrs.type === 'subscribed', 10_000);
    await expect
      .poll(
        async () =>
          (
            await smartlockServer.context.db.query<{ owner: string | null }>(
              `SELECT owner FROM smartlock_gateways WHERE deviceid = '#bgw-hall'`,
            )
          ).rows[0]?.owner,
        { timeout: 10_000 },
      )
      .toBe(`alice@${AS1}`);
    expect(await rac(alice).ask('userRegister', { displayName: 'Alice', pin: '246810' })).toMatchObject({
      status: 1000,
    });
    expect(await rac(alice).ask('userAuthenticate', { pin: '246810' })).toMatchObject({ status: 1000 });
    const claim = { gatewayId: '#bgw-hall', lockId: LOCK_ID, activationCode: 'K7Q2M9XW4P' };
    expect(await rac(alice).ask('lockAuthenticate', claim)).toMatchObject({ status: 1000 });
    expect(
      await rac(alice).ask('lockRegister', { gatewayId: '#bgw-hall', lockId: LOCK_ID, name: 'Beach house' }),
    ).toMatchObject({
      status: 1000,
    });
    expect(await rac(carol).ask('userRegister', { displayName: 'Carol', pin: '135790' })).toMatchObject({
      status: 1000,
    });
    expect(await rac(carol).ask('userAuthenticate', { pin: '135790' })).toMatchObject({ status: 1000 });
  }, 60_000);

  it('refuses to link a third party the gateway does not have', async () => {
    expect(await rac(alice).ask('thirdPartyLink', { lockId: LOCK_ID, thirdParty: 'unknown' })).toEqual({
      version: 1,
      id: expect.any(String),
      status: 3007,
      message: 'Third-party service platform unknown or not linked to this lock',
    });
  });

  it('takes nothing from rentals for a lock not linked to it', async () => {
    const from = webhooks.length;
    expect(await rentalsCalls('alice', grant('g0', LOCK_ID, 'carol', inSeconds(0), inSeconds(60)))).toEqual({
      status: 200,
      body: '',
    });
    expect(await rentalsHears((e) => e.event === 'requestResult', from)).toEqual({
      version: 1,
      event: 'requestResult',
      requestId: 'g0',
      operation: 'guestGrant',
      status: 3007,
      message: 'Third-party service platform unknown or not linked to this lock',
      at: expect.any(String),
    });
    expect(lock.users).toEqual([`alice@${AS1}`]);
  });

  it('alice links the lock: rentals hears it in a webhook signed with its key, from the smart-lock server', async () => {
    const from = webhooks.length;
    expect(await rac(alice).ask('thirdPartyLink', { lockId: LOCK_ID, thirdParty: 'rentals' })).toMatchObject({
      status: 1000,
      body: { lockId: LOCK_ID, thirdParty: 'rentals', linkedAt: expect.any(String) },
    });
    expect(await rentalsHears((e) => e.event === 'lockLinked', from)).toEqual({
      version: 1,
      event: 'lockLinked',
      lockId: LOCK_ID,
      owner: `alice@${AS1}`,
      at: expect.any(String),
    });
    const hook = webhooks[from]!;
    const body = webhookSchema.parse(JSON.parse(hook.body));
    expect(body).toMatchObject({
      version: '1',
      appid: 'gateway-as1',
      message: 14,
      userid: 'alice',
      from: 'smartlock-as1',
    });
    expect(hook.path).toBe('/hooks/irsp');
    const parts = {
      method: 'POST',
      path: hook.path,
      timestamp: body.timestamp,
      nonce: body.nonce,
      payload: hook.body,
    };
    expect(signatureMatches(RENTALS_KEY, parts, hook.signature)).toBe(true);
    expect(signatureMatches(randomBytes(32).toString('base64url'), parts, hook.signature)).toBe(false);
  });

  it('hears alice unlock the door', async () => {
    const from = webhooks.length;
    const accepted = await rac(alice).ask('lockControl', {
      lockId: LOCK_ID,
      action: 'unlock',
      deadline: inSeconds(30),
    });
    expect(accepted).toMatchObject({ status: 1001 });
    expect(await rentalsHears((e) => e.event === 'lockOperated', from)).toEqual({
      version: 1,
      event: 'lockOperated',
      lockId: LOCK_ID,
      userId: `alice@${AS1}`,
      action: 'unlock',
      status: 1000,
      state: 'unlocked',
      at: expect.any(String),
    });
  });

  it('grants carol a stay: the lock holds her ID, she and alice are told, and she can open the door', async () => {
    const from = webhooks.length;
    const until = (stayUntil = inSeconds(10));
    expect(await rentalsCalls('alice', grant('stay-1', LOCK_ID, 'carol', inSeconds(0), until))).toEqual({
      status: 200,
      body: '',
    });
    expect(await rentalsHears((e) => e.event === 'requestResult', from)).toEqual({
      version: 1,
      event: 'requestResult',
      requestId: 'stay-1',
      operation: 'guestGrant',
      status: 1000,
      message: 'Success',
      at: expect.any(String),
    });
    expect(lock.users).toEqual([`alice@${AS1}`, `carol@${AS1}`]);
    for (const user of [carol, alice])
      expect(await rac(user).fromRas((m) => m.event === 'accessGranted')).toMatchObject({
        lockId: LOCK_ID,
        grantee: `carol@${AS1}`,
        until,
      });
    const accepted = await rac(carol).ask('lockControl', {
      lockId: LOCK_ID,
      action: 'lock',
      deadline: inSeconds(30),
    });
    expect(accepted).toMatchObject({ status: 1001 });
    expect(
      await rac(carol).fromRas((m) => m.event === 'commandResult' && m.requestId === accepted.id),
    ).toMatchObject({
      status: 1000,
      state: 'locked',
    });
    expect(
      await rentalsHears((e) => e.event === 'lockOperated' && e.userId === `carol@${AS1}`, from),
    ).toMatchObject({ action: 'lock', status: 1000, state: 'locked' });
  }, 30_000);

  it('when the stay ends the lock forgets carol, she is refused, and rentals hears of the attempt', async () => {
    await new Promise((resolve) => setTimeout(resolve, Date.parse(stayUntil) - Date.now() + 500));
    const from = webhooks.length;
    expect(
      await rac(carol).ask('lockControl', { lockId: LOCK_ID, action: 'unlock', deadline: inSeconds(30) }),
    ).toEqual({
      version: 1,
      id: expect.any(String),
      status: 3005,
      message: 'Forbidden: access expired or not yet valid',
    });
    expect(await rentalsHears((e) => e.event === 'lockOperated', from)).toMatchObject({
      userId: `carol@${AS1}`,
      action: 'unlock',
      status: 3005,
    });
    expect(lock.bolt).toBe('locked');
    // The stay's end also erases carol from the lock itself (Table 3 remove), as a revocation would.
    await expect.poll(() => lock.users, { timeout: 10_000 }).toEqual([`alice@${AS1}`]);
  }, 30_000);

  it('refuses what rentals may not do, each with its Table 1 status', async () => {
    const cases: [string, string, number][] = [
      ['a lock alice does not own', grant('x1', OTHER_LOCK, 'carol', inSeconds(0), inSeconds(60)), 3007],
      ['in the name of another owner', grant('x2', LOCK_ID, 'carol', inSeconds(0), inSeconds(60)), 3007],
      ['a guest who never joined', grant('x3', LOCK_ID, 'dave', inSeconds(0), inSeconds(60)), 3003],
      ['the owner as guest', grant('x4', LOCK_ID, 'alice', inSeconds(0), inSeconds(60)), 3003],
      [
        'a malformed request',
        '{"version":1,"id":"x5","operation":"guestGrant","timestamp":"2026-12-07T00:00:00Z"}',
        2000,
      ],
      ['an unknown operation', '{"version":1,"id":"x6","operation":"openAll"}', 2002],
    ];
    for (const [what, data, status] of cases) {
      const from = webhooks.length;
      const owner = what === 'in the name of another owner' ? 'carol' : 'alice';
      expect(await rentalsCalls(owner, data), what).toEqual({ status: 200, body: '' });
      const result = await rentalsHears((e) => e.event === 'requestResult', from);
      expect(result, what).toMatchObject({ status, requestId: expect.stringMatching(/^x\d$/) });
    }
  }, 60_000);

  it('may not change a grant alice made herself, and withdraws only its own', async () => {
    expect(
      await rac(alice).ask('grantAccess', {
        lockId: LOCK_ID,
        grantee: 'carol',
        from: inSeconds(0),
        until: inSeconds(3600),
      }),
    ).toMatchObject({ status: 1000 });
    let from = webhooks.length;
    await rentalsCalls('alice', grant('y1', LOCK_ID, 'carol', inSeconds(0), inSeconds(60)));
    expect(await rentalsHears((e) => e.event === 'requestResult', from)).toMatchObject({
      requestId: 'y1',
      status: 3004,
    });
    from = webhooks.length;
    const revoke = buildTpspRequest({
      id: 'y2',
      operation: 'guestRevoke',
      timestamp: isoSeconds(new Date()),
      body: { lockId: LOCK_ID, guest: 'carol' },
    });
    await rentalsCalls('alice', revoke);
    expect(await rentalsHears((e) => e.event === 'requestResult', from)).toMatchObject({
      requestId: 'y2',
      status: 3003,
    });
    expect(await rac(alice).ask('revokeAccess', { lockId: LOCK_ID, grantee: 'carol' })).toMatchObject({
      status: 1000,
    });
    await expect.poll(() => lock.users, { timeout: 10_000 }).toEqual([`alice@${AS1}`]);
  }, 30_000);

  it('withdraws its own grant: the lock forgets the guest', async () => {
    let from = webhooks.length;
    await rentalsCalls('alice', grant('z1', LOCK_ID, 'carol', inSeconds(0), inSeconds(3600)));
    expect(await rentalsHears((e) => e.event === 'requestResult', from)).toMatchObject({
      requestId: 'z1',
      status: 1000,
    });
    expect(lock.users).toEqual([`alice@${AS1}`, `carol@${AS1}`]);
    from = webhooks.length;
    await rentalsCalls(
      'alice',
      buildTpspRequest({
        id: 'z2',
        operation: 'guestRevoke',
        timestamp: isoSeconds(new Date()),
        body: { lockId: LOCK_ID, guest: 'carol' },
      }),
    );
    expect(await rentalsHears((e) => e.event === 'requestResult', from)).toMatchObject({
      requestId: 'z2',
      status: 1000,
    });
    await expect.poll(() => lock.users, { timeout: 10_000 }).toEqual([`alice@${AS1}`]);
    expect(await rac(carol).fromRas((m) => m.event === 'accessRevoked')).toMatchObject({
      grantee: `carol@${AS1}`,
    });
  }, 30_000);

  it('alice reads in the audit log what rentals did in her name', async () => {
    const log = await rac(alice).ask('auditLog', { lockId: LOCK_ID, limit: 100 });
    const entries = (log.body as { entries: Record<string, unknown>[] }).entries;
    expect(entries.filter((e) => e.via === 'rentals').map((e) => [e.action, e.status])).toEqual([
      ['revokeAccess', 1000],
      ['grantAccess', 1000],
      ['grantAccess', 1000],
      ['thirdPartyLink', 1000],
    ]);
  });

  it('a server of the AS that is not the gateway cannot speak for a third party', async () => {
    const other = byName('default');
    const data = grant('w1', LOCK_ID, 'carol', inSeconds(0), inSeconds(60));
    const sent = await http.post(
      `${byName('smartlock').url}/exchange`,
      form({
        userid: 'alice',
        data,
        appid: other.credentials.appid,
        token: other.credentials.token,
        thirdparty: 'rentals',
      }),
    );
    expect(sent).toMatchObject({ status: 200 });
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(events().some((e) => e.event === 'requestResult' && e.requestId === 'w1')).toBe(false);
    expect(lock.users).toEqual([`alice@${AS1}`]);
  });

  it('once alice unlinks it, rentals is told and its requests are refused', async () => {
    let from = webhooks.length;
    expect(
      await rac(alice).ask('thirdPartyUnlink', { lockId: LOCK_ID, thirdParty: 'rentals' }),
    ).toMatchObject({
      status: 1000,
    });
    expect(await rentalsHears((e) => e.event === 'lockUnlinked', from)).toMatchObject({ lockId: LOCK_ID });
    from = webhooks.length;
    await rentalsCalls('alice', grant('v1', LOCK_ID, 'carol', inSeconds(0), inSeconds(60)));
    expect(await rentalsHears((e) => e.event === 'requestResult', from)).toMatchObject({
      requestId: 'v1',
      status: 3007,
    });
    expect(lock.users).toEqual([`alice@${AS1}`]);
  }, 30_000);
});
