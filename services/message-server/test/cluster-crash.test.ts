/**
 * A message server of a cluster killed with SIGKILL mid-traffic (decision 0024): a second message server of the AS
 * runs as its own process (services/message-server/dist/main.js, built by `tsc --build`), sharing the AS's
 * PostgreSQL (DATABASE_URL, else the local default: PGlite cannot be shared between processes) and NATS with a
 * server in this process. Messages its device had not acknowledged when it died are stored by the sending server,
 * and the device is reported offline (Message 11) exactly once; the outbox rows it had leased are delivered by the
 * survivor as soon as its session lease has run out, not when the rows' own (longer) leases end.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { xml, type Client, type XmlElement } from '@xmpp/client';
import type { ClusterConfig } from '@irsp/config';
import { openDb, type Db } from '@irsp/store';
import { serverTlsFor, tempDir } from '../../../test/support/irsp.js';
import { XmppInbox, xmppLogin } from '../../../test/support/xmpp.js';
import { credentials, startXmppMessageServer, type XmppFixture } from './fixture.js';
import { RawSession } from './raw-session.js';

const NATS = process.env['NATS_URL'] ?? 'nats://127.0.0.1:4222';
const DATABASE_URL = process.env['DATABASE_URL'] || 'postgres://postgres@127.0.0.1:5432/test';
const domain = `k${randomBytes(5).toString('hex')}.irsp.test`;
const cluster: ClusterConfig = { nats: [NATS], secret: randomBytes(24).toString('base64') };
const schema = `mscrash_${randomBytes(5).toString('hex')}`;
/** Short leases, so the survivor finds the killed server dead within seconds. */
const LEASE_MS = 1_500;
const lockApp = {
  name: 'smartlock',
  url: 'https://127.0.0.1:1',
  listen: { host: '127.0.0.1', port: 0 },
  jid: `smartlock.${domain}`,
  credentials: { appid: 'smartlock', token: 'smartlock-token-0123456789' },
  deviceStatus: true,
  serviceUris: { userUpload: '/u', deviceUpload: '/d', deviceStatus: '/s', exchange: '/x' },
};

/**
 * An application server taking devices' uploads (Message 9): while `holding`, it reads a request and never answers
 * (a delivery in flight when its message server dies); then it answers 200.
 */
let uploads: Server;
let holding = true;
const uploadArrivals: { data: string | null; attempt: string | undefined; held: boolean }[] = [];
const uploadsApp = () => ({
  name: 'uploads',
  url: `https://127.0.0.1:${(uploads.address() as AddressInfo).port}`,
  listen: { host: '127.0.0.1', port: 0 },
  jid: `uploads.${domain}`,
  credentials: { appid: 'uploads', token: 'uploads-token-0123456789' },
  deviceStatus: false,
  serviceUris: { userUpload: '/u', deviceUpload: '/d', deviceStatus: '/s', exchange: '/x' },
});

let db: Db;
let dir: Awaited<ReturnType<typeof tempDir>>;
let survivor: XmppFixture;
let child: ChildProcess | undefined;
const clients: Client[] = [];

/** Starts message server `ms-k` of the AS in a process of its own; resolves with its XMPP ports. */
async function startChild(leaseMs = LEASE_MS): Promise<{ c2s: number; directTls: number }> {
  const topology = {
    tls: { mode: 'local', dir: dir.path },
    logLevel: 'info',
    accountServer: { url: 'https://127.0.0.1:1', listen: { host: '127.0.0.1', port: 0 } },
    autonomousSystems: [
      {
        domain,
        database: { url: DATABASE_URL, schema },
        cluster,
        applicationServers: [lockApp, uploadsApp()],
        messageServers: [
          {
            id: 'ms-k',
            url: 'https://127.0.0.1:1',
            listen: { host: '127.0.0.1', port: 0 },
            sessionLeaseMs: leaseMs,
            xmpp: { host: '127.0.0.1', c2sPort: 0, directTlsPort: 0 },
            credentials,
          },
        ],
      },
    ],
  };
  const file = join(dir.path, 'irsp.json');
  await writeFile(file, JSON.stringify(topology));
  const started = spawn(process.execPath, [new URL('../dist/main.js', import.meta.url).pathname], {
    env: { ...process.env, IRSP_CONFIG: file, IRSP_AS: domain, IRSP_MESSAGE_SERVER: 'ms-k' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  child = started;
  const lines = createInterface({ input: started.stdout! });
  return new Promise((resolve, reject) => {
    started.once('exit', (code) => reject(new Error(`message server ms-k exited (${code})`)));
    lines.on('line', (line) => {
      const entry = JSON.parse(line) as { msg?: string; ports?: { c2s: number; directTls: number } };
      if (entry.msg === 'message server listening' && entry.ports) resolve(entry.ports);
    });
  });
}

beforeAll(async () => {
  dir = await tempDir();
  const appTls = await serverTlsFor(dir.path, 'uploads-app', ['localhost']);
  uploads = createServer({ cert: appTls.cert, key: appTls.key }, (req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    req.on('end', () => {
      uploadArrivals.push({
        data: new URLSearchParams(body).get('data'),
        attempt: req.headers['irsp-delivery-attempt'] as string | undefined,
        held: holding,
      });
      if (!holding) res.writeHead(200, { 'content-type': 'text/plain' }).end('result=200');
    });
  });
  await new Promise<void>((resolve) => uploads.listen(0, '127.0.0.1', resolve));
  db = await openDb({ url: DATABASE_URL, schema, poolMax: 4, dropSchemaOnClose: true });
  survivor = await startXmppMessageServer({
    domain,
    db,
    id: 'ms-a',
    tlsDir: dir.path,
    cluster,
    applicationServers: [lockApp, uploadsApp()],
    onlineSessions: { leaseMs: LEASE_MS },
  });
  await survivor.register('#lock7', '#lock7 pw');
  await survivor.register('alice', 'alice pw');
  for (const device of ['#lock9', '#lock8']) {
    await survivor.register(device, `${device} pw`);
    for (const [owner, contact] of [
      ['alice', device],
      [device, 'alice'],
    ])
      await db.query(
        `INSERT INTO roster (owner, contact, subscription, ask) VALUES ($1, $2, 'both', false)`,
        [owner, `${contact}@${domain}`],
      );
    await db.query(`INSERT INTO device_owners (device, owner) VALUES ($1, $2)`, [device, `alice@${domain}`]);
  }
});

afterAll(async () => {
  child?.kill('SIGKILL');
  for (const client of clients) await client.stop().catch(() => undefined);
  await survivor?.close();
  uploads?.closeAllConnections();
  uploads?.close();
  await db?.close();
  await dir?.remove();
});

describe('a message server killed with SIGKILL', () => {
  it('loses nothing acknowledged to the sender, and its device is reported offline once', async () => {
    const ports = await startChild();
    const lockSide = { ...survivor, directTlsPort: ports.directTls } as XmppFixture;
    const lock = await RawSession.login(lockSide, '#lock9', '#lock9 pw', 'main');
    lock.write(`<enable xmlns='urn:xmpp:sm:3'/>`);
    await lock.waitFor(/<enabled xmlns='urn:xmpp:sm:3'/);
    await expect
      .poll(() => survivor.server.context.router.sessions.remoteResource('#lock9', 'main'))
      .toBe('ms-k');
    const alice = await xmppLogin({
      port: survivor.c2sPort,
      domain,
      username: 'alice',
      password: 'alice pw',
    });
    clients.push(alice);
    for (let i = 0; i < 20; i++)
      await alice.send(xml('message', { to: `#lock9@${domain}/main` }, xml('body', {}, `command ${i}`)));
    // Alice's next answer comes once every message before it was taken by the lock's server.
    const pong = await alice.iqCaller.request(
      xml('iq', { type: 'get', to: domain }, xml('ping', { xmlns: 'urn:xmpp:ping' })),
    );
    expect(pong.attrs.type).toBe('result');
    await lock.waitFor(/command 19/);
    // The lock read them all and acknowledged none when its server died.
    child!.kill('SIGKILL');
    await new Promise((resolve) => child!.once('exit', resolve));
    child = undefined;
    await expect
      .poll(async () => (await db.query(`SELECT 1 FROM offline_messages WHERE owner = '#lock9'`)).rowCount, {
        timeout: 15_000,
      })
      .toBe(20);
    const again = await xmppLogin({
      port: survivor.c2sPort,
      domain,
      username: '#lock9',
      password: '#lock9 pw',
      resource: 'again',
    });
    clients.push(again);
    const inbox = new XmppInbox(again);
    await again.send(xml('presence'));
    const bodies: string[] = [];
    for (let i = 0; i < 20; i++)
      bodies.push((await inbox.next((s: XmlElement) => s.is('message'))).getChildText('body')!);
    expect(bodies).toEqual(Array.from({ length: 20 }, (_, i) => `command ${i}`));
    // Message 10 when it logged in on the killed server, 11 once when the survivor took its session over, 10 again.
    const statuses = await db.query<{ operation: string }>(
      `SELECT operation FROM outbox WHERE ordering_key = 'smartlock:#lock9' ORDER BY id`,
    );
    expect(statuses.rows.map((r) => r.operation)).toEqual(['deviceOnline', 'deviceOffline', 'deviceOnline']);
  });

  it('restarted before its lease runs out: what it had not delivered is stored at once, Message 11 sent once', async () => {
    // A lease far longer than the test: only the restart can tell the survivor.
    const ports = await startChild(60_000);
    const lockSide = { ...survivor, directTlsPort: ports.directTls } as XmppFixture;
    const lock = await RawSession.login(lockSide, '#lock8', '#lock8 pw', 'main');
    lock.write(`<enable xmlns='urn:xmpp:sm:3'/>`);
    await lock.waitFor(/<enabled xmlns='urn:xmpp:sm:3'/);
    await expect
      .poll(() => survivor.server.context.router.sessions.remoteResource('#lock8', 'main'))
      .toBe('ms-k');
    const alice = await xmppLogin({
      port: survivor.c2sPort,
      domain,
      username: 'alice',
      password: 'alice pw',
      resource: 'second',
    });
    clients.push(alice);
    for (let i = 0; i < 5; i++)
      await alice.send(xml('message', { to: `#lock8@${domain}/main` }, xml('body', {}, `open ${i}`)));
    await lock.waitFor(/open 4/);
    child!.kill('SIGKILL');
    await new Promise((resolve) => child!.once('exit', resolve));
    await startChild(60_000);
    await expect
      .poll(async () => (await db.query(`SELECT 1 FROM offline_messages WHERE owner = '#lock8'`)).rowCount, {
        timeout: 10_000,
      })
      .toBe(5);
    expect(survivor.server.context.router.sessions.remote('#lock8')).toEqual([]);
    // The restarted server reported the session it held before its crash offline, once.
    await expect
      .poll(async () =>
        (
          await db.query<{ operation: string }>(
            `SELECT operation FROM outbox WHERE ordering_key = 'smartlock:#lock8' ORDER BY id`,
          )
        ).rows.map((r) => r.operation),
      )
      .toEqual(['deviceOnline', 'deviceOffline']);
  });

  it("the outbox rows it had leased are delivered by the survivor once its session lease ends, not the rows' own", async () => {
    // The server restarted above goes for good first (its lease far longer than this test).
    if (child) {
      const previous = child;
      previous.kill('SIGKILL');
      await new Promise((resolve) => previous.once('exit', resolve));
    }
    const ports = await startChild();
    const lockSide = { ...survivor, directTlsPort: ports.directTls } as XmppFixture;
    const lock = await RawSession.login(lockSide, '#lock7', '#lock7 pw', 'main');
    for (let i = 0; i < 3; i++)
      lock.write(`<message to='uploads.${domain}' id='u${i}'><body>reading ${i}</body></message>`);
    // The server wrote the three rows, leased the first (the head of the device's queue) and waits for its answer.
    await expect
      .poll(
        async () => (await db.query(`SELECT 1 FROM outbox WHERE ordering_key = 'uploads:#lock7'`)).rowCount,
      )
      .toBe(3);
    await expect.poll(() => uploadArrivals.length).toBe(1);
    child!.kill('SIGKILL');
    await new Promise((resolve) => child!.once('exit', resolve));
    child = undefined;
    holding = false;
    // The row's lease is the outbox's default (60 s); the survivor takes it over within a session lease or so.
    await expect
      .poll(() => uploadArrivals.filter((a) => !a.held).map(({ data, attempt }) => ({ data, attempt })), {
        timeout: 10_000,
      })
      .toEqual([
        { data: 'reading 0', attempt: '2' },
        { data: 'reading 1', attempt: '1' },
        { data: 'reading 2', attempt: '1' },
      ]);
    expect(uploadArrivals[0]).toEqual({ data: 'reading 0', attempt: '1', held: true });
    await expect
      .poll(
        async () => (await db.query(`SELECT 1 FROM outbox WHERE ordering_key = 'uploads:#lock7'`)).rowCount,
      )
      .toBe(0);
  });
});
