/**
 * The smart-lock application (RAS) end to end at the application server: users' requests come as Message 8 and
 * are answered through Message 12; a gateway (BGW) emulated here relays the sealed frames of Message 13 to a lock
 * (LockDevice, the same checks a real BSLD runs) and uploads the lock's answers as Message 9; Messages 10/11 say
 * whether it is online. Covers Figures 6, 7 and 12, sharing, the audit log, and the refusals of issue 13: replayed,
 * expired and forged frames (by the lock), unrelated users, a gateway offline, malformed gateway messages.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applicationServerSchema, ensureLocalCa, ensureServerCert } from '@irsp/config';
import { OperationClient, createLogger } from '@irsp/http';
import { message10, message11, message8, message9 } from '@irsp/protocol';
import {
  LockDevice,
  buildFromGateway,
  buildRequest,
  openFrame,
  parseToGateway,
  type Operation,
  type RequestBody,
} from '@irsp/smartlock';
import { openTestDb, type Db } from '@irsp/store';
import { buildApplicationServer, type ApplicationServer } from '../src/build.js';

const DOMAIN = 'as1.irsp.test';
const CREDENTIALS = { appid: 'smartlock', token: 'smartlock-token-0123456789' };
const GATEWAY = '#bgw-hall';
const LOCK_ID = '00a1b2c3d4e5f607';
const KEY = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex');
const ACTIVATION = 'K7Q2M9XW4P';

let dir: string;
let messageServer: Server;
let db: Db;
let server: ApplicationServer;
let base: string;
let client: OperationClient;
/** Message 12 data per user, in arrival order. */
const toUsers = new Map<string, Record<string, unknown>[]>();
/** The gateway: relays frames to the lock while connected; keeps them meanwhile (as offline storage would). */
const lock = new LockDevice(LOCK_ID, KEY);
let gatewayConnected = true;
/** The gateway flips a bit of the lock's answer before uploading it. */
let tamper = false;
const heldForGateway: string[] = [];
/** Frames the gateway relayed, as sent (to replay them). */
const relayed: string[] = [];
let nextId = 0;

async function send(operation: typeof message8 | typeof message9, params: Record<string, string>) {
  const outcome = await client.send(operation, base, { ...params, ...CREDENTIALS } as never, {
    serviceUri: operation === message8 ? '/user/upload' : '/device/upload',
  });
  expect(outcome).toEqual({ kind: 'status', status: 200 });
}

async function deviceStatus(online: boolean) {
  const operation = online ? message10 : message11;
  const outcome = await client.send(
    operation,
    base,
    { deviceid: GATEWAY, type: online ? 'online' : 'offline', ...CREDENTIALS } as never,
    { serviceUri: '/device/status' },
  );
  expect(outcome).toEqual({ kind: 'status', status: 200 });
}

/** What the gateway does with a Message 13. */
async function gatewayReceives(data: string): Promise<void> {
  const parsed = parseToGateway(data);
  if (!parsed.ok) throw new Error(`the RAS sent the gateway something malformed: ${parsed.error.detail}`);
  const message = parsed.value;
  if (message.type === 'scan') {
    await send(message9, {
      deviceid: GATEWAY,
      data: buildFromGateway({
        type: 'scanResult',
        requestId: message.requestId,
        locks: [{ lockId: LOCK_ID, rssi: -61 }],
      }),
    });
    return;
  }
  relayed.push(message.frame);
  const answer = lock.handle(Buffer.from(message.frame, 'base64'));
  if (!answer) return; // a forged frame gets no answer
  if (tamper) answer[answer.length - 1]! ^= 1;
  await send(message9, {
    deviceid: GATEWAY,
    data: buildFromGateway({
      type: 'frame',
      requestId: message.requestId,
      lockId: message.lockId,
      frame: answer.toString('base64'),
    }),
  });
}

/** The frame of a Message 13 held for the gateway. */
function parseToGatewayFrame(data: string): string {
  const parsed = parseToGateway(data);
  if (!parsed.ok || parsed.value.type !== 'frame') throw new Error('not a frame for the gateway');
  return parsed.value.frame;
}

function messagesOf(user: string): Record<string, unknown>[] {
  if (!toUsers.has(user)) toUsers.set(user, []);
  return toUsers.get(user)!;
}

/** Sends a request as `user` and waits for the response with its id. */
async function request<O extends Operation>(user: string, operation: O, body: RequestBody<O>) {
  const id = `r${++nextId}`;
  const data = buildRequest({
    id,
    operation,
    timestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    body,
  });
  await send(message8, { userid: user, data });
  return waitFor(user, (m) => m.id === id);
}

async function waitFor(user: string, match: (m: Record<string, unknown>) => boolean, timeout = 10_000) {
  let found: Record<string, unknown> | undefined;
  await expect
    .poll(() => (found = messagesOf(user).find(match)) !== undefined, { timeout, interval: 20 })
    .toBe(true);
  return found!;
}

const inSeconds = (s: number) => new Date(Date.now() + s * 1000).toISOString().replace(/\.\d+Z$/, 'Z');

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'irsp-smartlock-'));
  const ca = (await ensureLocalCa(dir)).cert;
  const tls = await ensureServerCert(dir, 'servers', { dns: ['localhost'], ip: ['127.0.0.1'] });
  messageServer = createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    req.on('end', () => {
      res.writeHead(200).end();
      const form = new URLSearchParams(body);
      const data = form.get('data')!;
      const userid = form.get('userid');
      if (userid !== null) messagesOf(userid).push(JSON.parse(data) as Record<string, unknown>);
      else if (gatewayConnected) void gatewayReceives(data);
      else heldForGateway.push(data);
    });
  });
  await new Promise<void>((resolve) => messageServer.listen(0, '127.0.0.1', resolve));
  const msPort = (messageServer.address() as AddressInfo).port;
  db = await openTestDb('smartlock_ras');
  server = await buildApplicationServer({
    domain: DOMAIN,
    config: applicationServerSchema.parse({
      name: 'smartlock',
      url: 'https://127.0.0.1:0',
      listen: { host: '127.0.0.1', port: 0 },
      jid: `smartlock.${DOMAIN}`,
      credentials: CREDENTIALS,
      applications: ['smartlock'],
    }),
    messageServers: [{ url: `https://127.0.0.1:${msPort}`, pushUri: '/push' }],
    ca,
    db,
    logger: createLogger({ name: 'smartlock-test', level: 'silent' }),
    tls: { ...tls, ca },
    outbox: { baseDelayMs: 50, maxDelayMs: 200, pollMs: 100 },
  });
  const port = await server.listen({ host: '127.0.0.1', port: 0 });
  base = `https://127.0.0.1:${port}`;
  client = new OperationClient({ ca });
  const auth = `Basic ${Buffer.from(`${CREDENTIALS.appid}:${CREDENTIALS.token}`).toString('base64')}`;
  const imported = await server.app.inject({
    method: 'POST',
    url: '/smartlock/factory-records',
    headers: { authorization: auth },
    payload: {
      records: [
        {
          lockId: LOCK_ID,
          model: 'BSLD-1',
          firmware: '1.0.0',
          activationCode: ACTIVATION,
          keyId: 1,
          key: KEY.toString('hex'),
        },
      ],
    },
  });
  expect(imported.json()).toEqual({ imported: 1 });
  // The gateway logs in (Message 10) and says who owns it (Message 9).
  await deviceStatus(true);
  await send(message9, { deviceid: GATEWAY, data: buildFromGateway({ type: 'hello', owner: 'alice' }) });
}, 60_000);

afterAll(async () => {
  await client?.close();
  await server?.close();
  await new Promise((resolve) => messageServer?.close(resolve));
  await db?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('users (7.1, 7.2)', () => {
  it('registers the user the message server authenticated, once', async () => {
    expect(await request('alice', 'userRegister', { displayName: 'Alice', pin: '123456' })).toMatchObject({
      status: 1000,
      body: { userId: `alice@${DOMAIN}` },
    });
    expect(await request('alice', 'userRegister', { displayName: 'Alice', pin: '123456' })).toMatchObject({
      status: 3002,
      message: 'User already registered',
    });
    await request('bob', 'userRegister', { displayName: 'Bob', pin: '654321' });
    await request('mallory', 'userRegister', { displayName: 'Mallory', pin: '111111' });
  });

  it('needs the PIN confirmed for what opens doors, and throttles wrong PINs', async () => {
    expect(
      await request('alice', 'lockControl', { lockId: LOCK_ID, action: 'unlock', deadline: inSeconds(30) }),
    ).toMatchObject({ status: 3000 });
    expect(await request('alice', 'userAuthenticate', { pin: '000000' })).toMatchObject({ status: 3001 });
    expect(await request('alice', 'userAuthenticate', { pin: '123456' })).toMatchObject({
      status: 1000,
      body: { userId: `alice@${DOMAIN}` },
    });
    for (let i = 0; i < 5; i++) await request('mallory', 'userAuthenticate', { pin: '999999' });
    expect(await request('mallory', 'userAuthenticate', { pin: '111111' })).toMatchObject({ status: 3006 });
    await request('bob', 'userAuthenticate', { pin: '654321' });
  });

  it('answers a malformed request with its id when it can be read, and a user not registered', async () => {
    await send(message8, { userid: 'alice', data: '{"version":1,"id":"bad-1","operation":"nope"}' });
    expect(await waitFor('alice', (m) => m.id === 'bad-1')).toMatchObject({ status: 2002 });
    await send(message8, { userid: 'alice', data: 'not json' });
    expect(await waitFor('alice', (m) => m.id === null)).toMatchObject({ status: 2000 });
    expect(await request('carol', 'lockDiscover', { gatewayId: GATEWAY, seconds: 1 })).toMatchObject({
      status: 3003,
    });
  });
});

describe('a lock is found, authenticated and registered (7.3, 7.4, Figure 6)', () => {
  it('discovers through the owner’s gateway only', async () => {
    expect(await request('alice', 'lockDiscover', { gatewayId: GATEWAY, seconds: 1 })).toMatchObject({
      status: 1000,
      body: { gatewayId: GATEWAY, locks: [{ lockId: LOCK_ID, rssi: -61, registered: false }] },
    });
    expect(await request('bob', 'lockDiscover', { gatewayId: GATEWAY, seconds: 1 })).toMatchObject({
      status: 3004,
    });
  });

  it('authenticates the lock by its activation code, then writes the owner into it', async () => {
    expect(
      await request('alice', 'lockAuthenticate', {
        gatewayId: GATEWAY,
        lockId: LOCK_ID,
        activationCode: 'WRONGCODE1',
      }),
    ).toMatchObject({ status: 4002 });
    expect(
      await request('alice', 'lockRegister', { gatewayId: GATEWAY, lockId: LOCK_ID, name: 'Front door' }),
    ).toMatchObject({ status: 4002 });
    expect(
      await request('alice', 'lockAuthenticate', {
        gatewayId: GATEWAY,
        lockId: LOCK_ID,
        activationCode: ACTIVATION,
      }),
    ).toMatchObject({ status: 1000, body: { lockId: LOCK_ID, model: 'BSLD-1', firmware: '1.0.0' } });
    expect(
      await request('alice', 'lockRegister', { gatewayId: GATEWAY, lockId: LOCK_ID, name: 'Front door' }),
    ).toMatchObject({ status: 1000, body: { lockId: LOCK_ID, gatewayId: GATEWAY, name: 'Front door' } });
    expect(lock.users).toEqual([`alice@${DOMAIN}`]);
    await waitFor('alice', (m) => m.event === 'lockRegistered');
  });
});

describe('control (Figure 7)', () => {
  it('unlocks for the owner: accepted at once, the result pushed with the bolt state', async () => {
    const answer = await request('alice', 'lockControl', {
      lockId: LOCK_ID,
      action: 'unlock',
      deadline: inSeconds(30),
    });
    expect(answer).toMatchObject({ status: 1001, body: { lockId: LOCK_ID, action: 'unlock' } });
    expect(
      await waitFor('alice', (m) => m.event === 'commandResult' && m.requestId === answer.id),
    ).toMatchObject({ status: 1000, state: 'unlocked', action: 'unlock' });
    expect(lock.bolt).toBe('unlocked');
  });

  it('refuses an unrelated user, and the lock itself refuses a replayed or forged frame', async () => {
    expect(
      await request('bob', 'lockControl', { lockId: LOCK_ID, action: 'unlock', deadline: inSeconds(30) }),
    ).toMatchObject({ status: 3004 });
    const counter = lock.lastCounter;
    // Replayed: the last frame relayed, again.
    const replay = lock.handle(Buffer.from(relayed.at(-1)!, 'base64'));
    expect(replay).toBeDefined();
    expect(lock.lastCounter).toBe(counter);
    // Forged: one bit of the last frame changed; the lock does not even answer.
    const forged = Buffer.from(relayed.at(-1)!, 'base64');
    forged[40]! ^= 1;
    expect(lock.handle(forged)).toBeUndefined();
    expect(lock.bolt).toBe('unlocked');
  });

  it('refuses an expired deadline before sending anything', async () => {
    const sent = relayed.length;
    expect(
      await request('alice', 'lockControl', {
        lockId: LOCK_ID,
        action: 'lock',
        deadline: new Date(Date.now() - 5_000).toISOString().replace(/\.\d+Z$/, 'Z'),
      }),
    ).toMatchObject({ status: 5002 });
    expect(relayed.length).toBe(sent);
  });

  it('says "gateway offline" at once while the gateway is offline, and a frame held for it never runs late', async () => {
    await deviceStatus(false);
    await waitFor('alice', (m) => m.event === 'gatewayOffline');
    expect(
      await request('alice', 'lockControl', { lockId: LOCK_ID, action: 'lock', deadline: inSeconds(30) }),
    ).toMatchObject({ status: 5000 });
    // The gateway drops off without its Message 11 having arrived yet: the frame waits in storage.
    await deviceStatus(true);
    gatewayConnected = false;
    const answer = await request('alice', 'lockControl', {
      lockId: LOCK_ID,
      action: 'lock',
      deadline: inSeconds(1),
    });
    expect(answer).toMatchObject({ status: 1001 });
    await expect.poll(() => heldForGateway.length, { timeout: 5_000 }).toBe(1);
    // No answer by the deadline (and a short grace): the user hears so.
    expect(
      await waitFor('alice', (m) => m.event === 'commandResult' && m.requestId === answer.id, 10_000),
    ).toMatchObject({ status: 5005 });
    // The gateway comes back with the stale frame: the lock refuses it (Table 8 status 5002) and stays unlocked.
    gatewayConnected = true;
    const stale = Buffer.from(parseToGatewayFrame(heldForGateway.shift()!), 'base64');
    const refusal = lock.handle(stale);
    expect(openFrame(KEY, refusal!)).toMatchObject({ ok: true, value: { status: 5002, bolt: 'unlocked' } });
    expect(lock.bolt).toBe('unlocked');
  }, 60_000);
});

describe('sharing and the audit log', () => {
  it('a grantee may unlock within the window only, and is erased from the lock when it ends; revoking takes effect at once', async () => {
    expect(
      await request('alice', 'grantAccess', {
        lockId: LOCK_ID,
        grantee: 'bob',
        from: inSeconds(-60),
        until: inSeconds(2),
      }),
    ).toMatchObject({ status: 1000, body: { grantee: `bob@${DOMAIN}` } });
    expect(lock.users).toEqual([`alice@${DOMAIN}`, `bob@${DOMAIN}`]);
    await waitFor('bob', (m) => m.event === 'accessGranted');
    // What a RAC shows after a login, from the RAS rather than from what it remembers.
    const listed = (await request('alice', 'lockList', {})).body as { locks: Record<string, unknown>[] };
    expect(listed.locks).toEqual([
      {
        lockId: LOCK_ID,
        name: expect.any(String),
        role: 'owner',
        gatewayId: GATEWAY,
        state: expect.stringMatching(/^(locked|unlocked)$/),
        battery: 100,
        grants: [{ grantee: `bob@${DOMAIN}`, from: expect.any(String), until: expect.any(String) }],
      },
    ]);
    expect(await request('bob', 'lockList', {})).toMatchObject({
      status: 1000,
      body: {
        locks: [{ lockId: LOCK_ID, role: 'grantee', from: expect.any(String), until: expect.any(String) }],
      },
    });
    expect(await request('carol', 'lockList', {})).toMatchObject({ status: 3003 });
    const ok = await request('bob', 'lockControl', {
      lockId: LOCK_ID,
      action: 'lock',
      deadline: inSeconds(30),
    });
    expect(await waitFor('bob', (m) => m.event === 'commandResult' && m.requestId === ok.id)).toMatchObject({
      status: 1000,
      state: 'locked',
      battery: 100,
    });
    // The owner sees the bolt move when a grantee moved it.
    expect(await waitFor('alice', (m) => m.event === 'lockState' && m.state === 'locked')).toMatchObject({
      lockId: LOCK_ID,
      battery: 100,
    });
    // The window ends: the lock forgets bob by itself (Table 3 remove), and the RAS records when it confirmed.
    await expect.poll(() => lock.users, { timeout: 10_000 }).toEqual([`alice@${DOMAIN}`]);
    await expect
      .poll(
        async () =>
          (
            await db.query<{ erased: boolean }>(
              'SELECT erased_at IS NOT NULL AS erased FROM smartlock_grants WHERE grantee = $1',
              [`bob@${DOMAIN}`],
            )
          ).rows,
        { timeout: 10_000 },
      )
      .toEqual([{ erased: true }]);
    expect(
      await request('bob', 'lockControl', { lockId: LOCK_ID, action: 'unlock', deadline: inSeconds(30) }),
    ).toMatchObject({ status: 3005 });
    expect(await request('alice', 'revokeAccess', { lockId: LOCK_ID, grantee: 'bob' })).toMatchObject({
      status: 1000,
    });
    await expect.poll(() => lock.users, { timeout: 5_000 }).toEqual([`alice@${DOMAIN}`]);
    expect(
      await request('bob', 'lockControl', { lockId: LOCK_ID, action: 'unlock', deadline: inSeconds(30) }),
    ).toMatchObject({ status: 3004 });
  });

  it('the owner reads every operation, newest first; nobody else may', async () => {
    const log = await request('alice', 'auditLog', { lockId: LOCK_ID, limit: 100 });
    const entries = (log.body as { entries: { userId: string; action: string; status: number }[] }).entries;
    expect(entries.slice(0, 5).map((e) => [e.userId.split('@')[0], e.action, e.status])).toEqual([
      ['bob', 'unlock', 3004],
      ['alice', 'revokeAccess', 1000],
      ['bob', 'unlock', 3005],
      ['bob', 'grantEnded', 1000],
      ['bob', 'lock', 1000],
    ]);
    expect(entries.at(-1)).toMatchObject({ action: 'lockRegister', status: 1000 });
    expect(await request('bob', 'auditLog', { lockId: LOCK_ID, limit: 10 })).toMatchObject({ status: 3004 });
  });
});

describe('what a gateway cannot do', () => {
  it('malformed messages and answers to nothing are dropped; the RAS keeps serving', async () => {
    for (const data of [
      '{',
      '{"version":1,"type":"frame","requestId":"p999999","lockId":"00","frame":"AA=="}',
      'x'.repeat(70_000),
    ])
      await send(message9, { deviceid: GATEWAY, data: data.slice(0, 65_536) });
    await send(message9, {
      deviceid: '#other-gw',
      data: buildFromGateway({ type: 'unreachable', requestId: 'p1', lockId: LOCK_ID }),
    });
    expect(await request('alice', 'lockDiscover', { gatewayId: GATEWAY, seconds: 1 })).toMatchObject({
      status: 1000,
    });
  });
});

describe('a lock answer tampered on the way', () => {
  it('ends the command with 5004 at once', async () => {
    tamper = true;
    try {
      const answer = await request('alice', 'lockControl', {
        lockId: LOCK_ID,
        action: 'unlock',
        deadline: inSeconds(30),
      });
      expect(
        await waitFor('alice', (m) => m.event === 'commandResult' && m.requestId === answer.id),
      ).toMatchObject({ status: 5004 });
    } finally {
      tamper = false;
    }
  });
});

describe('removal (7.5, Figure 12)', () => {
  it('only the owner removes; the lock no longer holds the user', async () => {
    expect(await request('bob', 'lockRemove', { lockId: LOCK_ID })).toMatchObject({ status: 3004 });
    expect(await request('alice', 'lockRemove', { lockId: LOCK_ID })).toMatchObject({
      status: 1000,
      body: { lockId: LOCK_ID },
    });
    expect(lock.users).toEqual([]);
    expect(
      await request('alice', 'lockControl', { lockId: LOCK_ID, action: 'unlock', deadline: inSeconds(30) }),
    ).toMatchObject({ status: 4000 });
  });
});
