/**
 * Delivery marks (docs/protocol.md "Delivery marks"): every Message 8–11 the outbox sends carries
 * IRSP-Delivery-Id (stable per row, different between rows) and IRSP-Delivery-Attempt (1 first, then counted by
 * the lease, durably): a retry after a failed send and a resend after a server lost with its lease both say so.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ensureLocalCa, ensureServerCert, type ApplicationServerConfig } from '@irsp/config';
import { OperationClient } from '@irsp/http';
import { loadMigrations, migrate, openTestDb, type Db } from '@irsp/store';
import { Notifications, deliverNotification } from '../src/notifications.js';
import { Outbox } from '../src/outbox.js';
import { captureLogger } from '../../../test/support/irsp.js';

interface Arrival {
  path: string;
  deliveryId: string | undefined;
  attempt: string | undefined;
  body: string;
}

let db: Db;
let dir: string;
let server: Server;
let client: OperationClient;
let arrivals: Arrival[];
/** The status the receiver answers to the n-th request (0-based); 200 when not given. */
let statuses: number[];
let app: ApplicationServerConfig;

beforeEach(async () => {
  db = await openTestDb('msmarks');
  await migrate(db, await loadMigrations(new URL('../migrations/', import.meta.url)));
  dir = await mkdtemp(join(tmpdir(), 'irsp-marks-'));
  const ca = (await ensureLocalCa(dir)).cert;
  const tls = await ensureServerCert(dir, 'app', { dns: ['localhost'], ip: ['127.0.0.1'] });
  arrivals = [];
  statuses = [];
  server = createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
    req.on('end', () => {
      const header = (name: string) => req.headers[name] as string | undefined;
      arrivals.push({
        path: req.url ?? '',
        deliveryId: header('irsp-delivery-id'),
        attempt: header('irsp-delivery-attempt'),
        body,
      });
      const status = statuses[arrivals.length - 1] ?? 200;
      res.writeHead(status, { 'content-type': 'text/plain' }).end(`result=${status}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  client = new OperationClient({ ca });
  app = {
    name: 'smartlock',
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    listen: { host: '127.0.0.1', port: 0 },
    jid: 'smartlock.as1.irsp.test',
    credentials: { appid: 'smartlock', token: 'smartlock-token-0123456789' },
    deviceStatus: true,
    serviceUris: { userUpload: '/u', deviceUpload: '/d', deviceStatus: '/s', exchange: '/x' },
  };
});

afterEach(async () => {
  await client.close();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await rm(dir, { recursive: true, force: true });
  await db.close();
});

const outboxOf = () =>
  new Outbox(db, captureLogger().logger, (row) => deliverNotification(client, [app], row)!, {
    baseDelayMs: 60_000,
  });

const origin = async () =>
  (await db.query<{ origin: string }>('SELECT origin FROM delivery_origin')).rows[0]!.origin;

/** The rows still waiting become due, as if their back-off or lease had run out. */
const due = () => db.query('UPDATE outbox SET next_attempt_at = now(), lease_until = NULL');

describe('delivery marks of Messages 8–11', () => {
  it('sends attempt 1 first, and the same id with attempt 2 after a failed send; ids differ between rows', async () => {
    const outbox = outboxOf();
    const notifications = new Notifications(db, outbox, [app]);
    await notifications.deviceStatus('#lock1', true);
    await notifications.deviceStatus('#lock2', true);
    statuses = [500];
    expect(await outbox.drainOnce()).toBe(2);
    await due();
    expect(await outbox.drainOnce()).toBe(1);
    const from = await origin();
    expect(from).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(arrivals.map(({ path, deliveryId, attempt }) => ({ path, deliveryId, attempt }))).toEqual([
      { path: '/s', deliveryId: `outbox/1@${from}`, attempt: '1' },
      { path: '/s', deliveryId: `outbox/2@${from}`, attempt: '1' },
      { path: '/s', deliveryId: `outbox/1@${from}`, attempt: '2' },
    ]);
    // The marks are headers: the form is clause 8's, byte for byte.
    expect(arrivals[2]!.body).toBe(
      'deviceid=%23lock1&type=online&appid=smartlock&token=smartlock-token-0123456789',
    );
    expect((await db.query('SELECT count(*)::int AS n FROM outbox')).rows).toEqual([{ n: 0 }]);
  });

  it('sends attempt 2 when the server that leased the row was lost before its outcome was written', async () => {
    const notifications = new Notifications(db, outboxOf(), [app]);
    await notifications.upload('smartlock.as1.irsp.test', '#lock1', 'meter 7');
    // The first server sends and is lost before the 200 is recorded: it never answers, never writes an outcome.
    const lost = new Outbox(db, captureLogger().logger, async (row) => {
      await deliverNotification(client, [app], row);
      return new Promise(() => {});
    });
    void lost.drainOnce();
    await expect.poll(() => arrivals.length, { timeout: 10_000 }).toBe(1);
    // Its lease runs out; another server (or the same one restarted) sends the row again.
    await due();
    expect(await outboxOf().drainOnce()).toBe(1);
    const from = await origin();
    expect(arrivals.map(({ path, deliveryId, attempt }) => ({ path, deliveryId, attempt }))).toEqual([
      { path: '/d', deliveryId: `outbox/1@${from}`, attempt: '1' },
      { path: '/d', deliveryId: `outbox/1@${from}`, attempt: '2' },
    ]);
  });

  it('gives two databases different origins, so that their row ids never make the same delivery id', async () => {
    const other = await openTestDb('msmarks2');
    try {
      await migrate(other, await loadMigrations(new URL('../migrations/', import.meta.url)));
      const theirs = (await other.query<{ origin: string }>('SELECT origin FROM delivery_origin')).rows;
      expect(theirs).toHaveLength(1);
      expect(theirs[0]!.origin).not.toBe(await origin());
    } finally {
      await other.close();
    }
  });
});
