/**
 * The gateway's webhook queue (clause 8.8): a backlog drains at the speed of the receiver, not one webhook per
 * poll, and each third party's webhooks leave in order through retries and refusals; on PostgreSQL the lease
 * finds its rows by primary key; a third party that never answers holds back only its own webhooks.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ensureLocalCa, ensureServerCert, type ThirdPartyConfig } from '@irsp/config';
import { loadMigrations, migrate, openTestDb, type Db } from '@irsp/store';
import {
  GatewayOutbox,
  enqueueWebhook,
  type Delivery,
  type GatewayOutboxOptions,
} from '../src/applications/gateway/outbox.js';
import { deliverWebhooks } from '../src/applications/gateway/webhooks.js';
import { SignedClient } from '../src/signed-client.js';
import { heldTransaction, planNodes, recordingDb, type Statement } from '../../../test/support/db.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} } as never;
const databaseUrl = process.env['DATABASE_URL'];
const onPostgres = databaseUrl !== undefined && databaseUrl !== '';

interface Attempt {
  id: number;
  thirdParty: string;
  data: string | undefined;
  attempts: number;
}

let db: Db;
let outbox: GatewayOutbox | undefined;
/** Every call of the deliver function, in order. */
let sent: Attempt[];
let sentAt: number[];
let answer: (attempt: Attempt) => Delivery;
const delivered: Delivery = { kind: 'delivered' };

beforeEach(async () => {
  db = await openTestDb('gateway_outbox');
  await migrate(db, await loadMigrations(new URL('../migrations/', import.meta.url)));
  sent = [];
  sentAt = [];
  answer = () => delivered;
});

afterEach(async () => {
  await outbox?.stop();
  outbox = undefined;
  try {
    // Whatever a test did, each third party's rows have exactly one head, their oldest.
    const bad = await db.query(
      `SELECT third_party FROM gateway_outbox GROUP BY third_party
        HAVING count(*) FILTER (WHERE head) <> 1 OR min(id) <> min(id) FILTER (WHERE head)`,
    );
    expect(bad.rows).toEqual([]);
  } finally {
    await db.close();
  }
});

function open(options: GatewayOutboxOptions, on: Db = db): GatewayOutbox {
  outbox = new GatewayOutbox(
    on,
    silent,
    (row) => {
      const attempt = {
        id: row.id,
        thirdParty: row.thirdParty,
        data: 'data' in row.event ? row.event.data : undefined,
        attempts: row.attempts,
      };
      sent.push(attempt);
      sentAt.push(Date.now());
      return Promise.resolve(answer(attempt));
    },
    options,
  );
  return outbox;
}

/** `perThirdParty` Message 9 events for each third party, interleaved: ids 1, 2, … in that order. */
async function enqueue(thirdParties: string[], perThirdParty: number): Promise<void> {
  await db.query(
    `INSERT INTO gateway_outbox (third_party, event, head)
     SELECT t, jsonb_build_object('message', 9, 'deviceid', '#lock1', 'data', t || '-' || i), i = 0
       FROM generate_series(0, $2::int - 1) i, unnest($1::text[]) WITH ORDINALITY AS u(t, k)
      ORDER BY i, k`,
    [thirdParties, perThirdParty],
  );
}

const waiting = async () =>
  (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM gateway_outbox')).rows[0]!.n;

/** Each row's attempts, last error, lease and whether its next attempt is more than 30 s away. */
const retryState = async () =>
  (
    await db.query(
      `SELECT id::int, attempts, last_error, lease_until, next_attempt_at > now() + interval '30 s' AS later
         FROM gateway_outbox ORDER BY id`,
    )
  ).rows;

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

describe('GatewayOutbox', () => {
  it('drains a backlog of one third party at the speed of the receiver, in order, without waiting for the poll', async () => {
    await enqueue(['alpha'], 200);
    // Only the first round starts before the poll a minute later: the rest must follow at once.
    await open({ pollMs: 60_000 }).start();
    await expect.poll(waiting, { timeout: 10_000, interval: 20 }).toBe(0);
    expect(sent).toEqual(
      range(200).map((i) => ({ id: i + 1, thirdParty: 'alpha', data: `alpha-${i}`, attempts: 1 })),
    );
  });

  it('keeps the order of each of two interleaved third parties', async () => {
    await enqueue(['alpha', 'beta'], 50);
    await open({ pollMs: 60_000 }).start();
    await expect.poll(waiting, { timeout: 10_000, interval: 20 }).toBe(0);
    expect(sent).toHaveLength(100);
    expect(sent.filter((a) => a.thirdParty === 'alpha')).toEqual(
      range(50).map((i) => ({ id: 2 * i + 1, thirdParty: 'alpha', data: `alpha-${i}`, attempts: 1 })),
    );
    expect(sent.filter((a) => a.thirdParty === 'beta')).toEqual(
      range(50).map((i) => ({ id: 2 * i + 2, thirdParty: 'beta', data: `beta-${i}`, attempts: 1 })),
    );
  });

  it('holds the successor of a retried webhook until the retry is delivered after its back-off', async () => {
    await enqueue(['alpha'], 3);
    answer = (a) => (a.id === 2 && a.attempts === 1 ? { kind: 'retry', reason: 'status 503' } : delivered);
    // A back-off of 300 ms ± 25 %, found by a poll every 50 ms.
    await open({ baseDelayMs: 300, pollMs: 50 }).start();
    await expect.poll(waiting, { timeout: 10_000, interval: 20 }).toBe(0);
    expect(sent).toEqual([
      { id: 1, thirdParty: 'alpha', data: 'alpha-0', attempts: 1 },
      { id: 2, thirdParty: 'alpha', data: 'alpha-1', attempts: 1 },
      { id: 2, thirdParty: 'alpha', data: 'alpha-1', attempts: 2 },
      { id: 3, thirdParty: 'alpha', data: 'alpha-2', attempts: 1 },
    ]);
    expect(sentAt[2]! - sentAt[1]!).toBeGreaterThanOrEqual(220);
  });

  it('keeps the back-off of a retried webhook and its successor behind it', async () => {
    await enqueue(['alpha'], 2);
    answer = () => ({ kind: 'retry', reason: 'status 503' });
    const queue = open({ baseDelayMs: 60_000 });
    expect(await queue.drainOnce()).toBe(1);
    expect(await queue.drainOnce()).toBe(0);
    expect(await retryState()).toEqual([
      { id: 1, attempts: 1, last_error: 'status 503', lease_until: null, later: true },
      { id: 2, attempts: 0, last_error: null, lease_until: null, later: false },
    ]);
    expect(sent).toEqual([{ id: 1, thirdParty: 'alpha', data: 'alpha-0', attempts: 1 }]);
  });

  it('moves a refused webhook to gateway_dead_letters and delivers its successor at once', async () => {
    await enqueue(['alpha'], 3);
    answer = (a) => (a.id === 1 ? { kind: 'refused', status: 400, reason: 'status 400' } : delivered);
    await open({ pollMs: 60_000 }).start();
    await expect.poll(waiting, { timeout: 10_000, interval: 20 }).toBe(0);
    expect(sent).toEqual(
      range(3).map((i) => ({ id: i + 1, thirdParty: 'alpha', data: `alpha-${i}`, attempts: 1 })),
    );
    const dead = await db.query(
      'SELECT id::int, third_party, event, attempts, status, reason FROM gateway_dead_letters',
    );
    expect(dead.rows).toEqual([
      {
        id: 1,
        third_party: 'alpha',
        event: { message: 9, deviceid: '#lock1', data: 'alpha-0' },
        attempts: 1,
        status: 400,
        reason: 'status 400',
      },
    ]);
  });

  it("makes a webhook queued while its third party's last row is being deleted the head", async () => {
    await enqueueWebhook(db, 'alpha', JSON.stringify({ message: 9, deviceid: '#lock1', data: 'first' }));
    let release: () => void = () => {};
    const released = new Promise<void>((resolve) => (release = resolve));
    outbox = new GatewayOutbox(db, silent, async (row) => {
      sent.push({ id: row.id, thirdParty: row.thirdParty, data: undefined, attempts: row.attempts });
      await released;
      return delivered;
    });
    const round = outbox.drainOnce();
    await expect.poll(() => sent.length).toBe(1);
    // The second webhook is written (seeing the first, so not a head) in a transaction that stays open while
    // the first, delivered, is deleted: the deletion must wait for it and then make the second the head.
    const writer = await heldTransaction(db, (tx) =>
      enqueueWebhook(tx, 'alpha', JSON.stringify({ message: 9, deviceid: '#lock1', data: 'second' })),
    );
    release();
    await new Promise((resolve) => setTimeout(resolve, 100));
    await writer.commit();
    expect(await round).toBe(1);
    const left = await db.query("SELECT event->>'data' AS data, head FROM gateway_outbox");
    expect(left.rows).toEqual([{ data: 'second', head: true }]);
    expect(await outbox.drainOnce()).toBe(1);
  });

  it("delivers every webhook of a third party while another third party's first one never answers", async () => {
    await enqueue(['alpha', 'beta'], 3);
    let answerAlpha: (delivery: Delivery) => void = () => {};
    const alphaAnswered = new Promise<Delivery>((resolve) => (answerAlpha = resolve));
    // Alpha hangs for longer than the test waits (its timeout is far off): beta must not wait for it.
    outbox = new GatewayOutbox(
      db,
      silent,
      (row) => {
        sent.push({ id: row.id, thirdParty: row.thirdParty, data: undefined, attempts: row.attempts });
        return row.thirdParty === 'alpha' ? alphaAnswered : Promise.resolve(delivered);
      },
      { pollMs: 60_000, deliveryTimeoutMs: 50_000 },
    );
    await outbox.start();
    await expect.poll(() => sent.filter((a) => a.thirdParty === 'beta').length, { timeout: 10_000 }).toBe(3);
    expect(sent.filter((a) => a.thirdParty === 'alpha')).toEqual([
      { id: 1, thirdParty: 'alpha', data: undefined, attempts: 1 },
    ]);
    expect(sent.filter((a) => a.thirdParty === 'beta').map((a) => a.id)).toEqual([2, 4, 6]);
    // Alpha answers at last: its webhooks follow, in order.
    answerAlpha(delivered);
    await expect.poll(waiting, { timeout: 10_000, interval: 20 }).toBe(0);
    expect(sent.filter((a) => a.thirdParty === 'alpha').map((a) => a.id)).toEqual([1, 3, 5]);
  });

  it("over HTTPS: a third party whose endpoint never answers does not delay another's webhooks", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'irsp-hooks-'));
    const ca = (await ensureLocalCa(dir)).cert;
    const tls = await ensureServerCert(dir, 'hooks', { dns: ['localhost'], ip: ['127.0.0.1'] });
    const received: { alpha: string[]; beta: string[] } = { alpha: [], beta: [] };
    const hook = (name: 'alpha' | 'beta'): Promise<Server> => {
      const server = createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
        let body = '';
        req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
        req.on('end', () => {
          received[name].push((JSON.parse(body) as { data: string }).data);
          // alpha takes the request and never answers.
          if (name === 'beta') res.writeHead(200).end();
        });
      });
      return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
    };
    const servers = { alpha: await hook('alpha'), beta: await hook('beta') };
    const thirdParty = (name: 'alpha' | 'beta'): ThirdPartyConfig => ({
      name,
      appid: name,
      key: 'a-key-shared-with-the-third-party-0123456789',
      webhookUrl: `https://127.0.0.1:${(servers[name].address() as AddressInfo).port}/hooks`,
      allow: { addresses: ['127.0.0.1'], messages: [], targets: [] },
      forward: [9],
    });
    const client = new SignedClient({ ca, requestTimeoutMs: 55_000 });
    try {
      await enqueue(['alpha', 'beta'], 3);
      outbox = new GatewayOutbox(
        db,
        silent,
        deliverWebhooks([thirdParty('alpha'), thirdParty('beta')], client, 'gateway'),
        { pollMs: 60_000, deliveryTimeoutMs: 50_000 },
      );
      await outbox.start();
      await expect.poll(() => received.beta, { timeout: 10_000 }).toEqual(['beta-0', 'beta-1', 'beta-2']);
      expect(received.alpha).toEqual(['alpha-0']);
      // alpha drops the connection at last: its webhook is retried later, nothing else was waiting for it.
      servers.alpha.closeAllConnections();
      await outbox.stop();
      expect(received.alpha).toEqual(['alpha-0']);
      expect(await retryState()).toEqual([
        { id: 1, attempts: 1, last_error: 'socket hang up', lease_until: null, later: false },
        { id: 3, attempts: 0, last_error: null, lease_until: null, later: false },
        { id: 5, attempts: 0, last_error: null, lease_until: null, later: false },
      ]);
    } finally {
      client.close();
      for (const server of Object.values(servers)) {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      }
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('over HTTPS: marks each webhook with its delivery id and attempt, the same id with attempt 2 on a retry', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'irsp-hooks-'));
    const ca = (await ensureLocalCa(dir)).cert;
    const tls = await ensureServerCert(dir, 'hooks', { dns: ['localhost'], ip: ['127.0.0.1'] });
    const arrivals: { data: string; id: unknown; deliveryId: unknown; attempt: unknown }[] = [];
    const server = createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
      req.on('end', () => {
        const event = JSON.parse(body) as { data: string; id: string };
        arrivals.push({
          data: event.data,
          id: event.id,
          deliveryId: req.headers['irsp-delivery-id'],
          attempt: req.headers['irsp-delivery-attempt'],
        });
        // The first webhook is refused for now (503), once.
        res.writeHead(arrivals.length === 1 ? 503 : 200).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const client = new SignedClient({ ca });
    try {
      await enqueue(['alpha'], 2);
      const alpha: ThirdPartyConfig = {
        name: 'alpha',
        appid: 'alpha',
        key: 'a-key-shared-with-the-third-party-0123456789',
        webhookUrl: `https://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`,
        allow: { addresses: ['127.0.0.1'], messages: [], targets: [] },
        forward: [9],
      };
      outbox = new GatewayOutbox(db, silent, deliverWebhooks([alpha], client, 'gateway'), {
        baseDelayMs: 50,
      });
      await outbox.start();
      await expect.poll(waiting, { timeout: 10_000, interval: 20 }).toBe(0);
      const origin = (await db.query<{ origin: string }>('SELECT origin FROM delivery_origin')).rows[0]!
        .origin;
      expect(origin).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      expect(arrivals).toEqual([
        { data: 'alpha-0', id: '1', deliveryId: `gateway_outbox/1@${origin}`, attempt: '1' },
        { data: 'alpha-0', id: '1', deliveryId: `gateway_outbox/1@${origin}`, attempt: '2' },
        { data: 'alpha-1', id: '2', deliveryId: `gateway_outbox/2@${origin}`, attempt: '1' },
      ]);
    } finally {
      client.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('abandons a delivery that outlasts deliveryTimeoutMs: its signal is aborted and the webhook retried', async () => {
    await enqueue(['alpha'], 2);
    const aborted: unknown[] = [];
    outbox = new GatewayOutbox(
      db,
      silent,
      (row, signal) => {
        sent.push({ id: row.id, thirdParty: row.thirdParty, data: undefined, attempts: row.attempts });
        // A delivery that would never answer by itself, as a request does until it is aborted.
        return new Promise<Delivery>((resolve) =>
          signal.addEventListener('abort', () => {
            aborted.push((signal.reason as Error).message);
            resolve(delivered);
          }),
        );
      },
      { deliveryTimeoutMs: 200, baseDelayMs: 60_000 },
    );
    expect(await outbox.drainOnce()).toBe(1);
    expect(aborted).toEqual(['no answer within 200 ms']);
    expect(await retryState()).toEqual([
      { id: 1, attempts: 1, last_error: 'no answer within 200 ms', lease_until: null, later: true },
      { id: 2, attempts: 0, last_error: null, lease_until: null, later: false },
    ]);
    expect(sent).toEqual([{ id: 1, thirdParty: 'alpha', data: undefined, attempts: 1 }]);
  });

  it('refuses a delivery timeout that is not shorter than the lease', () => {
    expect(() => open({ deliveryTimeoutMs: 60_000, leaseMs: 60_000 })).toThrow(
      new RangeError('outbox: deliveryTimeoutMs must be shorter than leaseMs'),
    );
    outbox = undefined;
    // Unless given, the timeout is half of a lease shorter than its default.
    expect(() => open({ leaseMs: 20_000 })).not.toThrow();
  });

  it('marks the heads of rows written without one (before heads were marked) when it starts', async () => {
    await db.query(
      `INSERT INTO gateway_outbox (third_party, event)
       SELECT CASE WHEN i % 2 = 0 THEN 'alpha' ELSE 'beta' END,
              jsonb_build_object('message', 9, 'deviceid', '#lock1', 'data', i::text)
         FROM generate_series(0, 5) i`,
    );
    await open({ pollMs: 60_000 }).start();
    await expect.poll(waiting, { timeout: 10_000, interval: 20 }).toBe(0);
    expect(sent.filter((a) => a.thirdParty === 'alpha').map((a) => a.data)).toEqual(['0', '2', '4']);
    expect(sent.filter((a) => a.thirdParty === 'beta').map((a) => a.data)).toEqual(['1', '3', '5']);
  });
});

// The plan that matters is the production server's; PGlite is checked by the tests above.
describe.skipIf(!onPostgres)('GatewayOutbox on PostgreSQL (skipped unless DATABASE_URL is set)', () => {
  /** The lease statement as the outbox sends it: on an empty queue a round is that one statement. */
  async function leaseStatement(): Promise<Statement> {
    const recording = recordingDb(db);
    expect(await open({}, recording.db).drainOnce()).toBe(0);
    expect(recording.statements).toHaveLength(1);
    return recording.statements[0]!;
  }

  it('leases by primary key: the UPDATE does not scan the table', async () => {
    const lease = await leaseStatement();
    // A backlog of a few third parties, where `id IN (…)` was planned as a scan of the whole table.
    await enqueue(['alpha', 'beta', 'gamma', 'delta', 'epsilon'], 400);
    await db.query('ANALYZE gateway_outbox');
    // o, h and n are the subqueries' aliases; the UPDATE's own target is gateway_outbox.
    const target = (await planNodes(db, lease)).filter((n) => n.Alias === 'gateway_outbox');
    expect(target.map((n) => [n['Node Type'], n['Index Name']])).toEqual([
      ['ModifyTable', undefined],
      ['Index Scan', 'gateway_outbox_pkey'],
    ]);
  });

  it('finds the head of a large backlog of one third party through the index of heads, not a scan', async () => {
    const lease = await leaseStatement();
    await enqueue(['alpha'], 20_000);
    await db.query('ANALYZE gateway_outbox');
    // h reads the heads; o, the rows leased, is found by primary key.
    const plan = await planNodes(db, lease);
    const heads = plan.filter((n) => n.Alias === 'h');
    expect(heads.map((n) => [n['Node Type'], n['Index Name']])).toEqual([
      ['Index Scan', 'gateway_outbox_heads'],
    ]);
    const leased = plan.filter((n) => n.Alias === 'o');
    expect(leased.map((n) => [n['Node Type'], n['Index Name']])).toEqual([
      ['Index Scan', 'gateway_outbox_pkey'],
    ]);
  });
});
