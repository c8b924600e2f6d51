/**
 * The OSAP LBS of a message server (decision 0020) over real TLS sockets, driven by @irsp/osap's deviceStep: first
 * authentication and re-authentication, both negotiation cases, wrong codes refused and throttled (fake clock),
 * a new code (Message 4, the reset iq) changing what authenticates, the DAS chosen by load and health, and hostile
 * bytes closing the connection without an answer.
 */
import { once } from 'node:events';
import { connect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_GUESSING, type DasInstanceConfig } from '@irsp/config';
import { buildMessageServer, resetVerifyCode, type MessageServer } from '@irsp/message-server';
import {
  buildAuthMessage,
  deviceStep,
  initialDeviceState,
  shareKey,
  type DeviceCredentials,
  type DeviceState,
  type ProtocolOffer,
} from '@irsp/osap';
import { openTestDb, type Db } from '@irsp/store';
import { captureLogger, form, serverTlsFor, tempDir, TestClient } from '../../../test/support/irsp.js';
import { authenticateAt, lbsConnection, type LbsAddress } from '../../../test/support/osap.js';
import type { DasStatus } from '../src/osap/das-choice.js';
import { accountServerAuth, credentials, DOMAIN } from './fixture.js';

const ITERATIONS = 1000;
const LBS_OFFER: ProtocolOffer = { protocolType: 1, protocolGroup: [1, 2, 4, 8] };
const DAS: DasInstanceConfig[] = [
  { host: 'das1.as1.irsp.test', port: 8883, capacity: 1000, enabled: true },
  { host: 'das2.as1.irsp.test', port: 8884, capacity: 500, enabled: true },
  { host: '10.0.0.3', port: 8885, capacity: 1000, enabled: true },
];

const start = Date.UTC(2026, 11, 7, 3, 0, 0);
let now = start;
/** What the probe answers per DAS host; a host missing from it makes the probe reject. */
let dasStatus: Record<string, DasStatus> = {};
let dir: Awaited<ReturnType<typeof tempDir>>;
let db: Db;
let server: MessageServer;
let lbsPort: number;
let ca: string;
let http: TestClient;
let base: string;
let log: ReturnType<typeof captureLogger>;

beforeAll(async () => {
  dir = await tempDir();
  const tls = await serverTlsFor(dir.path, 'ms-osap', [DOMAIN]);
  ca = tls.ca;
  db = await openTestDb('msosap');
  log = captureLogger('message-server');
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
        protocol: { type: LBS_OFFER.protocolType, group: [1, 2, 4, 8] },
        shareKeyIterations: ITERATIONS,
        das: DAS,
      },
    },
    accountServerUrl: 'https://127.0.0.1:1',
    db,
    logger: log.logger,
    tls,
    ca,
    outbox: { pollMs: 60_000 },
    guessing: DEFAULT_GUESSING,
    now: () => now,
    dasProbe: (das) => {
      const status = dasStatus[das.host];
      if (status === undefined) throw new Error('DAS unreachable');
      return status;
    },
  });
  const ports = await server.listen({ host: '127.0.0.1', port: 0 });
  lbsPort = ports.lbs!;
  http = new TestClient(ca);
  base = `https://127.0.0.1:${ports.http}`;
}, 120_000);

afterAll(async () => {
  await http?.close();
  await server?.close();
  await db?.close();
  await dir?.remove();
});

async function registerDevice(serial: string, code: string): Promise<void> {
  const answer = await http.post(
    `${base}/device/register`,
    form({ ...accountServerAuth, name: `#${serial}`, password: `${serial} pw`, verifycode: code }),
  );
  expect(answer.status).toBe(200);
}

const device = (serial: string, code: string, supports = [LBS_OFFER]): DeviceCredentials => ({
  serialNumber: serial,
  shareKey: shareKey(code, serial, { iterations: ITERATIONS }),
  supports,
});

const lbs = (): LbsAddress => ({ host: '127.0.0.1', port: lbsPort, ca });
const connectOnce = (state: DeviceState, raw?: Uint8Array) => lbsConnection(lbs(), state, raw);
const authenticate = (state: DeviceState, connections = 3) => authenticateAt(lbs(), state, connections);

async function storedDevice(local: string) {
  const r = await db.query<{ dev_id: string; session_key: Uint8Array }>(
    'SELECT dev_id, session_key FROM osap_devices WHERE local_part = $1',
    [local],
  );
  return r.rows.map((row) => ({
    devId: row.dev_id,
    sessionKey: Buffer.from(row.session_key).toString('hex'),
  }));
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');
const refusals = (reason: string) =>
  log.lines.filter((line) => line.includes(`osap refused: ${reason}`)).length;

describe('OSAP LBS: authentication over TLS', () => {
  let first: DeviceState;

  beforeAll(async () => {
    await registerDevice('cam-0001', 'code-0001');
    dasStatus = {
      'das1.as1.irsp.test': { healthy: true, load: 10 },
      'das2.as1.irsp.test': { healthy: true, load: 10 },
      '10.0.0.3': { healthy: true, load: 10 },
    };
  });

  it('first authentication: DevID, master key, session key stored once confirmed, then a DAS address (F2)', async () => {
    const [connection, ...more] = await authenticate(initialDeviceState(device('cam-0001', 'code-0001')));
    expect(more).toEqual([]);
    const state = connection!.atClose;
    if (state.phase !== 'ready') throw new Error(`not ready: ${state.phase}`);
    // das1 and 10.0.0.3 at 10 of 1000, das2 at 10 of 500: the first of the least loaded.
    expect(state.das).toEqual({ host: 'das1.as1.irsp.test', port: 8883 });
    expect(connection!.received).toBe(3);
    expect(await storedDevice('#cam-0001')).toEqual([
      { devId: state.device.devId, sessionKey: hex(state.sessionKey) },
    ]);
    expect(state.device.devId).toMatch(/^[A-Za-z0-9_-]{16}$/);
    first = state;
  });

  it('re-authentication: the master key proves the DevID, a new session key replaces the stored one', async () => {
    const [connection, ...more] = await authenticate(initialDeviceState(first.device));
    expect(more).toEqual([]);
    const state = connection!.atClose;
    if (state.phase !== 'ready' || first.phase !== 'ready') throw new Error(`not ready: ${state.phase}`);
    expect(state.device.devId).toBe(first.device.devId);
    expect(hex(state.sessionKey)).not.toBe(hex(first.sessionKey));
    expect(await storedDevice('#cam-0001')).toEqual([
      { devId: first.device.devId, sessionKey: hex(state.sessionKey) },
    ]);
    expect(connection!.received).toBe(2);
  });

  it('a replayed Refresh_SessionKey_Req is answered but changes no stored session key (kept only at F1)', async () => {
    const stored = await storedDevice('#cam-0001');
    const replayed = buildAuthMessage(first.device.masterKey!, {
      type: 'Refresh_SessionKey_Req',
      devId: first.device.devId!,
      challenge: new Uint8Array(16).fill(1),
    });
    for (let i = 0; i < 2; i++) expect((await connectOnce(first, replayed)).received).toBe(1);
    expect(await storedDevice('#cam-0001')).toEqual(stored);
  });

  it('a DevID with a forged master key is refused without an answer', async () => {
    const forged = { ...first.device, masterKey: new Uint8Array(16).fill(7) };
    const before = refusals('refresh not sealed under the master key');
    const [connection] = await authenticate(initialDeviceState(forged));
    expect(connection!.atClose.phase).toBe('refreshing');
    expect(connection!.received).toBe(0);
    expect(refusals('refresh not sealed under the master key')).toBe(before + 1);
  });

  it('logs neither the code nor any key', () => {
    if (first.phase !== 'ready') throw new Error('no first authentication');
    const secrets = [
      'code-0001',
      hex(first.device.shareKey),
      hex(first.device.masterKey!),
      hex(first.sessionKey),
    ];
    for (const secret of secrets) expect(log.lines.filter((l) => l.includes(secret))).toEqual([]);
    expect(log.lines.filter((l) => l.includes('osap first authentication'))).toHaveLength(1);
  });
});

describe('OSAP LBS: negotiation (Figures 4–5)', () => {
  beforeAll(() => registerDevice('cam-0002', 'code-0002'));

  it('consistent: a device offering part of the group is served at once', async () => {
    const connections = await authenticate(
      initialDeviceState(device('cam-0002', 'code-0002', [{ protocolType: 1, protocolGroup: [1, 2] }])),
    );
    expect(connections.map((c) => [c.atClose.phase, c.received])).toEqual([['ready', 3]]);
  });

  it('inconsistent: the LBS answers its own offer and closes; the device retries with it and is served', async () => {
    const supports: ProtocolOffer[] = [
      { protocolType: 2, protocolGroup: [1, 2] },
      { protocolType: 1, protocolGroup: [4, 16] },
    ];
    const connections = await authenticate(initialDeviceState(device('cam-0002', 'code-0002', supports)));
    expect(connections.map((c) => [c.atClose.phase, c.received])).toEqual([
      ['disconnected', 1],
      ['ready', 3],
    ]);
    expect(connections[0]!.atClose).toMatchObject({ offer: { protocolType: 1, protocolGroup: [4] } });
  });

  it('inconsistent with nothing in common: the device gives up after the LBS answered', async () => {
    const supports: ProtocolOffer[] = [{ protocolType: 7, protocolGroup: [1] }];
    const connections = await authenticate(initialDeviceState(device('cam-0002', 'code-0002', supports)));
    expect(connections).toHaveLength(1);
    expect(connections[0]!.atClose).toMatchObject({
      phase: 'failed',
      error: { code: 'negotiation-failed' },
    });
  });
});

describe('OSAP LBS: wrong verification codes are refused and throttled (decision 0010)', () => {
  beforeAll(async () => {
    await registerDevice('lock-0003', 'right-code');
    now = start + 3_600_000;
  });

  const attempt = async (code: string) => {
    const [connection] = await authenticate(initialDeviceState(device('lock-0003', code)), 1);
    return [connection!.atClose.phase, connection!.received] as const;
  };

  it('refuses wrong codes without an answer, then throttles: back-off, then the hourly pair limit', async () => {
    const wrong = refusals('wrong verification code');
    const throttled = refusals('too many wrong verification codes');
    for (let i = 0; i < 4; i++) expect(await attempt(`wrong-${i}`)).toEqual(['negotiating', 0]);
    expect(refusals('wrong verification code')).toBe(wrong + 4);
    // Three free failures, then 1 s of back-off: now even the right code is not tried.
    expect(await attempt('right-code')).toEqual(['negotiating', 0]);
    expect(refusals('too many wrong verification codes')).toBe(throttled + 1);
    now += 1_000;
    expect(await attempt('wrong-4')).toEqual(['negotiating', 0]);
    expect(refusals('wrong verification code')).toBe(wrong + 5);
    // Five failures of this address on this device within the hour: the pair limit, whatever the code.
    now += 60_000;
    expect(await attempt('right-code')).toEqual(['negotiating', 0]);
    expect(log.lines.filter((l) => l.includes('"limit":"pair"'))).toHaveLength(1);
    // Once the failures have left the hour, the right code authenticates.
    now += 3_600_000;
    expect(await attempt('right-code')).toEqual(['ready', 3]);
  });

  it('an unknown serial number is refused like a wrong code, and serial numbers are the stored local part', async () => {
    now += 3_600_000;
    const before = refusals('no device with an OSAP code');
    const [connection] = await authenticate(initialDeviceState(device('no-such-9', 'any-code')), 1);
    expect([connection!.atClose.phase, connection!.received]).toEqual(['negotiating', 0]);
    expect(refusals('no device with an OSAP code')).toBe(before + 1);
    const counted = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM guess_failures WHERE scope = 'osapcode' AND target = '#no-such-9'`,
    );
    expect(counted.rows[0]!.n).toBe(1);
    // The account is #lock-0003 (local parts are kept in lower case): LOCK-0003 names no account.
    const [upper] = await authenticate(initialDeviceState(device('LOCK-0003', 'right-code')), 1);
    expect([upper!.atClose.phase, upper!.received]).toEqual(['negotiating', 0]);
    expect(refusals('no device with an OSAP code')).toBe(before + 2);
  });
});

describe('OSAP LBS: a new verification code changes what authenticates', () => {
  beforeAll(async () => {
    now += 3_600_000;
    await registerDevice('lock-0004', 'old-code');
  });

  it('Message 4 with a new code: the old DevID and the old code are refused, the new code works', async () => {
    const [firstAuth] = await authenticate(initialDeviceState(device('lock-0004', 'old-code')));
    expect(firstAuth!.atClose.phase).toBe('ready');
    const modified = await http.post(
      `${base}/device/modify`,
      form({ ...accountServerAuth, name: '#lock-0004', password: 'pw 2', verifycode: 'new-code' }),
    );
    expect(modified.status).toBe(200);
    expect(await storedDevice('#lock-0004')).toEqual([]);
    const [refresh] = await authenticate(initialDeviceState(firstAuth!.atClose.device), 1);
    expect([refresh!.atClose.phase, refresh!.received]).toEqual(['refreshing', 0]);
    const [old] = await authenticate(initialDeviceState(device('lock-0004', 'old-code')), 1);
    expect([old!.atClose.phase, old!.received]).toEqual(['negotiating', 0]);
    const [fresh] = await authenticate(initialDeviceState(device('lock-0004', 'new-code')));
    expect(fresh!.atClose.phase).toBe('ready');
  });

  it('the reset iq (then Message 7) likewise; a modification without a code keeps the DevID', async () => {
    const [before] = await authenticate(initialDeviceState(device('lock-0004', 'new-code')));
    const kept = await http.post(
      `${base}/device/modify`,
      form({ ...accountServerAuth, name: '#lock-0004', password: 'pw 3' }),
    );
    expect(kept.status).toBe(200);
    expect(await storedDevice('#lock-0004')).toHaveLength(1);
    expect(await resetVerifyCode(db, server.context.outbox, '#lock-0004', 'reset-code', ITERATIONS)).toBe(
      200,
    );
    expect(await storedDevice('#lock-0004')).toEqual([]);
    const [refresh] = await authenticate(initialDeviceState(before!.atClose.device), 1);
    expect(refresh!.atClose.phase).toBe('refreshing');
    const [fresh] = await authenticate(initialDeviceState(device('lock-0004', 'reset-code')));
    expect(fresh!.atClose.phase).toBe('ready');
    // Cleared code: no share key, no OSAP.
    expect(await resetVerifyCode(db, server.context.outbox, '#lock-0004', '', ITERATIONS)).toBe(200);
    const [none] = await authenticate(initialDeviceState(device('lock-0004', 'reset-code')), 1);
    expect([none!.atClose.phase, none!.received]).toEqual(['negotiating', 0]);
  });
});

describe('OSAP LBS: a removed device (Message 6)', () => {
  it('loses its DevID: re-authentication and first authentication are refused', async () => {
    now += 3_600_000;
    await registerDevice('cam-0006', 'code-0006');
    const [first] = await authenticate(initialDeviceState(device('cam-0006', 'code-0006')));
    expect(first!.atClose.phase).toBe('ready');
    const removed = await http.post(
      `${base}/device/remove`,
      form({ ...accountServerAuth, name: '#cam-0006' }),
    );
    expect(removed.status).toBe(200);
    expect(await storedDevice('#cam-0006')).toEqual([]);
    const [refresh] = await authenticate(initialDeviceState(first!.atClose.device), 1);
    expect([refresh!.atClose.phase, refresh!.received]).toEqual(['refreshing', 0]);
    const [again] = await authenticate(initialDeviceState(device('cam-0006', 'code-0006')), 1);
    expect([again!.atClose.phase, again!.received]).toEqual(['negotiating', 0]);
  });
});

describe('OSAP LBS: get access service chooses a DAS by load and health', () => {
  beforeAll(async () => {
    now += 3_600_000;
    await registerDevice('cam-0005', 'code-0005');
  });

  const dasOf = async () => {
    const [connection] = await authenticate(initialDeviceState(device('cam-0005', 'code-0005')));
    const state = connection!.atClose;
    return state.phase === 'ready' ? state.das : state.phase;
  };

  it('the lowest load ÷ capacity among the healthy; unreachable and unhealthy ones never', async () => {
    dasStatus = {
      'das1.as1.irsp.test': { healthy: true, load: 600 },
      'das2.as1.irsp.test': { healthy: true, load: 200 },
      '10.0.0.3': { healthy: false, load: 0 },
    };
    expect(await dasOf()).toEqual({ host: 'das2.as1.irsp.test', port: 8884 });
    dasStatus = {
      'das1.as1.irsp.test': { healthy: true, load: 999 },
      '10.0.0.3': { healthy: true, load: 999 },
    };
    expect(await dasOf()).toEqual({ host: 'das1.as1.irsp.test', port: 8883 });
    dasStatus = { '10.0.0.3': { healthy: true, load: 0 } };
    expect(await dasOf()).toEqual({ host: '10.0.0.3', port: 8885 });
  });

  it('no healthy DAS: F1 is not answered', async () => {
    dasStatus = { '10.0.0.3': { healthy: false, load: 0 } };
    expect(await dasOf()).toBe('gettingAccessService');
  });
});

describe('OSAP LBS: hostile input closes the connection without an answer', () => {
  const blank: DeviceState = initialDeviceState(device('cam-0001', 'code-0001'));

  it.each([
    ['garbage', Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0x7f])],
    ['a reserved type', Uint8Array.from([0x31, 0x05, 0x00, 0x03, 0x01, 0x01, 0x00])],
    [
      'F1 before any authentication',
      buildAuthMessage(new Uint8Array(16), { type: 'Get_AccessService_Req', challenge: new Uint8Array(16) }),
    ],
    [
      'apply DevID before the key exchange',
      buildAuthMessage(new Uint8Array(16), {
        type: 'Authentication_apply_devid_Req',
        challenge: new Uint8Array(16),
      }),
    ],
  ])('%s', async (_name, bytes) => {
    const connection = await connectOnce(blank, bytes);
    expect(connection.received).toBe(0);
  });

  it('a burst of more messages than the exchange has in flight, even right ones, is not answered', async () => {
    const request = deviceStep(blank, { kind: 'connected' }).send[0]!;
    const connection = await connectOnce(blank, Buffer.concat(Array<Uint8Array>(10).fill(request)));
    expect(connection.received).toBe(0);
    const single = await connectOnce(blank, request);
    expect(single.received).toBe(1);
  });
});

describe('OSAP LBS: a connection that drips bytes', () => {
  let slow: MessageServer;
  let slowPort: number;

  beforeAll(async () => {
    const tls = await serverTlsFor(dir.path, 'ms-osap', [DOMAIN]);
    slow = await buildMessageServer({
      domain: DOMAIN,
      config: {
        id: 'ms2',
        url: 'https://127.0.0.1:1',
        listen: { host: '127.0.0.1', port: 0 },
        pushUri: '/push',
        credentials,
        osap: {
          lbs: { host: '127.0.0.1', port: 0, idleTimeoutMs: 60_000, exchangeTimeoutMs: 500 },
          protocol: { type: 1, group: [1, 2, 4, 8] },
          shareKeyIterations: ITERATIONS,
          das: DAS,
        },
      },
      accountServerUrl: 'https://127.0.0.1:1',
      db,
      logger: captureLogger('slow').logger,
      tls,
      ca,
      outbox: { pollMs: 60_000 },
    });
    slowPort = (await slow.listen({ host: '127.0.0.1', port: 0 })).lbs!;
  });

  afterAll(() => slow?.close());

  it('is closed at exchangeTimeoutMs although it is never idle', async () => {
    const request = deviceStep(initialDeviceState(device('cam-0001', 'code-0001')), { kind: 'connected' })
      .send[0]!;
    const socket = connect({ host: '127.0.0.1', port: slowPort, ca, servername: 'localhost' });
    await once(socket, 'secureConnect');
    const closed = once(socket, 'close');
    // One byte of the request every 50 ms: the request takes longer than the exchange may.
    let at = 0;
    const drip = setInterval(() => {
      if (at < request.length - 1) socket.write(request.subarray(at, ++at));
    }, 50);
    await closed;
    clearInterval(drip);
    expect(at).toBeLessThan(request.length - 1);
  });
});
