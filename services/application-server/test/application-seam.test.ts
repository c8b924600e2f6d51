/**
 * The application seam (docs/decisions/0017-application-seam.md): an application named by the topology gets its
 * migrations applied in a ledger of its own, its routes served, every message received in one transaction with the
 * other applications (a failure rolls all of them back and answers 500), and Messages 12–15 it queues in that
 * transaction delivered durably: retried with the same delivery id and a higher attempt until the message server
 * accepts them.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applicationServerSchema, ensureLocalCa, ensureServerCert } from '@irsp/config';
import { OperationClient, createLogger } from '@irsp/http';
import { errorBody, message9 } from '@irsp/protocol';
import { openTestDb, type Db } from '@irsp/store';
import type { ApplicationFactory } from '../src/application.js';
import { buildApplicationServer, type ApplicationServer } from '../src/build.js';

const silent = createLogger({ name: 'seam-test', level: 'silent' });
const CREDENTIALS = { appid: 'lockapp', token: 'lockapp-token-0123456789' };

/** A stand-in message server: records Messages 12–13 and answers 500 while `down`. */
interface Push {
  deviceid: string | null;
  data: string | null;
  deliveryId: string | undefined;
  attempt: string | undefined;
}

let dir: string;
let ca: string;
let messageServer: Server;
let down = true;
const pushes: Push[] = [];
let db: Db;
let server: ApplicationServer;
let port: number;
let client: OperationClient;

/** A test application: keeps what it receives in its own table, refuses `fail`, and answers each with a push. */
const probe: ApplicationFactory = (ctx) => ({
  name: 'probe',
  migrations: pathToFileURL(`${join(dir, 'probe-migrations')}/`),
  routes(app) {
    app.get('/probe/seen', async () => ({
      seen: (await ctx.db.query<{ data: string }>('SELECT data FROM probe_seen ORDER BY id')).rows.map(
        (r) => r.data,
      ),
    }));
  },
  async receive({ message, params }, tx) {
    if (message.number !== 9) return;
    await tx.query('INSERT INTO probe_seen (data) VALUES ($1)', [params.data]);
    if (params.data === 'fail') throw new Error('the probe refuses this one');
    await ctx.push({ deviceid: params.deviceid! }, `ack:${params.data}`, tx);
  },
});

async function upload(data: string) {
  return client.send(
    message9,
    `https://127.0.0.1:${port}`,
    { deviceid: '#lock1', data, ...CREDENTIALS },
    { serviceUri: '/device/upload' },
  );
}

async function recorded(): Promise<string[]> {
  const r = await db.query<{ params: { data: string } }>('SELECT params FROM received ORDER BY id');
  return r.rows.map((row) => row.params.data);
}

function configFor(applications: string[]) {
  return applicationServerSchema.parse({
    name: 'smartlock',
    url: 'https://127.0.0.1:0',
    listen: { host: '127.0.0.1', port: 0 },
    jid: 'smartlock.as1.irsp.test',
    credentials: CREDENTIALS,
    applications,
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'irsp-seam-'));
  await mkdir(join(dir, 'probe-migrations'));
  await writeFile(
    join(dir, 'probe-migrations', '001_create_probe.sql'),
    'CREATE TABLE probe_seen (id bigserial PRIMARY KEY, data text NOT NULL);',
  );
  ca = (await ensureLocalCa(dir)).cert;
  const tls = await ensureServerCert(dir, 'servers', { dns: ['localhost'], ip: ['127.0.0.1'] });
  messageServer = createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    req.on('end', () => {
      const form = new URLSearchParams(body);
      pushes.push({
        deviceid: form.get('deviceid'),
        data: form.get('data'),
        deliveryId: req.headers['irsp-delivery-id'] as string | undefined,
        attempt: req.headers['irsp-delivery-attempt'] as string | undefined,
      });
      if (down) {
        res.writeHead(500, { 'content-type': 'application/xml' }).end(errorBody(500));
        return;
      }
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => messageServer.listen(0, '127.0.0.1', resolve));
  const msPort = (messageServer.address() as AddressInfo).port;
  db = await openTestDb('application_seam');
  server = await buildApplicationServer({
    domain: 'as1.irsp.test',
    config: configFor(['recorder', 'probe']),
    messageServers: [{ url: `https://127.0.0.1:${msPort}`, pushUri: '/push' }],
    ca,
    db,
    logger: silent,
    tls: { ...tls, ca },
    outbox: { baseDelayMs: 50, maxDelayMs: 200, pollMs: 100 },
    applications: { probe },
  });
  port = await server.listen({ host: '127.0.0.1', port: 0 });
  client = new OperationClient({ ca });
}, 60_000);

afterAll(async () => {
  await client?.close();
  await server?.close();
  await new Promise((resolve) => messageServer?.close(resolve));
  await db?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('an application on the seam', () => {
  it('has its migrations applied in a ledger of its own', async () => {
    const ledger = await db.query<{ version: number; name: string }>(
      'SELECT version, name FROM probe_migrations ORDER BY version',
    );
    expect(ledger.rows).toEqual([{ version: 1, name: 'create_probe' }]);
  });

  it('receives a message with the other applications, and its push leaves once the message server takes it, marked as a retry', async () => {
    expect(await upload('door opened')).toEqual({ kind: 'status', status: 200 });
    expect(await recorded()).toEqual(['door opened']);
    const seen = await server.app.inject({ method: 'GET', url: '/probe/seen' });
    expect(seen.json()).toEqual({ seen: ['door opened'] });
    // The message server answers 500: the push stays queued and is tried again.
    await expect.poll(() => pushes.length, { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
    down = false;
    await expect
      .poll(() => pushes.at(-1)?.attempt !== undefined && Number(pushes.at(-1)!.attempt) >= 3, {
        timeout: 10_000,
      })
      .toBe(true);
    await expect
      .poll(async () => (await db.query('SELECT 1 FROM send_outbox')).rows.length, { timeout: 10_000 })
      .toBe(0);
    const ids = new Set(pushes.map((p) => p.deliveryId));
    expect(ids.size).toBe(1);
    expect([...ids][0]).toMatch(/^send_outbox\/\d+@[0-9a-f-]{36}$/);
    expect(pushes.map((p) => p.attempt)).toEqual(pushes.map((_, i) => String(i + 1)));
    expect(pushes.every((p) => p.deviceid === '#lock1' && p.data === 'ack:door opened')).toBe(true);
  });

  it('rolls every application back when one fails: 500, nothing recorded, nothing queued', async () => {
    const before = pushes.length;
    const outcome = await upload('fail');
    expect(outcome).toMatchObject({ kind: 'status', status: 500 });
    expect(await recorded()).toEqual(['door opened']);
    const seen = await server.app.inject({ method: 'GET', url: '/probe/seen' });
    expect(seen.json()).toEqual({ seen: ['door opened'] });
    await new Promise((r) => setTimeout(r, 300));
    expect(pushes.length).toBe(before);
  });

  it('refuses to start with an application it does not have', async () => {
    const other = await openTestDb('application_seam_unknown');
    try {
      await expect(
        buildApplicationServer({
          domain: 'as1.irsp.test',
          config: configFor(['recorder', 'nosuch']),
          db: other,
          logger: silent,
        }),
      ).rejects.toThrow(
        'application server smartlock: no application named nosuch (there are: recorder, gateway, smartlock)',
      );
    } finally {
      await other.close();
    }
  });
});
