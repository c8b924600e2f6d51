/**
 * The durable outbox (DESIGN "Delivery guarantees"): in order per ordering key, retried with back-off while the
 * receiver is down, and drained at once (still in order) when a retry finds it back; deliveries run in a window,
 * so a slow one holds back only its own key.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SendOutcome } from '@irsp/http';
import { loadMigrations, migrate, openTestDb, type Db } from '@irsp/store';
import { Outbox, enqueue, type OutboxRow } from '../src/outbox.js';
import { heldTransaction, planNodes, recordingDb } from '../../../test/support/db.js';

const silent = { debug() {}, info() {}, warn() {}, error() {} } as never;

let db: Db;
let up = false;
let sent: OutboxRow[] = [];
const deliver = (row: OutboxRow): Promise<SendOutcome> => {
  if (!up) return Promise.resolve({ kind: 'unreachable', reason: 'connection refused' });
  sent.push(row);
  return Promise.resolve({ kind: 'status', status: 200 });
};

beforeEach(async () => {
  db = await openTestDb('outbox');
  await migrate(db, await loadMigrations(new URL('../migrations/', import.meta.url)));
  up = false;
  sent = [];
});

/** Keys whose rows do not have exactly one head, their oldest row: none, whatever a test did. */
const badHeads = async () =>
  (
    await db.query<{ ordering_key: string }>(
      `SELECT ordering_key FROM outbox GROUP BY ordering_key
        HAVING count(*) FILTER (WHERE head) <> 1 OR min(id) <> min(id) FILTER (WHERE head)`,
    )
  ).rows;

afterEach(async () => {
  try {
    expect(await badHeads()).toEqual([]);
  } finally {
    await db.close();
  }
});

async function fill(keys: number, perKey: number, target = 'app', key = 'k') {
  for (let i = 0; i < perKey; i++) {
    for (let k = 0; k < keys; k++) {
      await enqueue(db, { target, operation: 'm', orderingKey: `${key}${k}`, params: { seq: String(i) } });
    }
  }
}

const waiting = async () =>
  (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM outbox')).rows[0]!.n;

describe('Outbox', () => {
  it('delivers in order per key, and a receiver that answers again gets its whole backlog at once', async () => {
    // A back-off of a minute: only the row made due below is retried before the end of the test.
    const outbox = new Outbox(db, silent, deliver, { baseDelayMs: 60_000, maxInFlight: 4 });
    await fill(5, 3);
    await fill(1, 1, 'other');
    await outbox.drainOnce();
    await outbox.drainOnce();
    expect(await waiting()).toBe(16);
    const delayed = await db.query(`SELECT 1 FROM outbox WHERE next_attempt_at > now() + interval '30 s'`);
    expect(delayed.rowCount).toBe(5);

    up = true;
    // The back-off of one head of `app` runs out: its retry is answered 200.
    await db.query(
      `UPDATE outbox SET next_attempt_at = now() WHERE id = (SELECT min(id) FROM outbox WHERE target = 'app')`,
    );
    await outbox.start();
    await expect.poll(waiting, { timeout: 5000 }).toBe(0);
    await outbox.stop();
    expect(sent).toHaveLength(16);
    for (let k = 0; k < 5; k++) {
      expect(
        sent.filter((r) => r.orderingKey === `k${k}` && r.target === 'app').map((r) => r.params.seq),
      ).toEqual(['0', '1', '2']);
    }
  });

  it('keeps the back-off of a receiver that is still down', async () => {
    const outbox = new Outbox(db, silent, deliver, { baseDelayMs: 60_000 });
    await fill(3, 2);
    await outbox.drainOnce();
    await db.query(`UPDATE outbox SET next_attempt_at = now() WHERE id = (SELECT min(id) FROM outbox)`);
    await outbox.drainOnce();
    const rows = await db.query<{ attempts: number; later: boolean }>(
      `SELECT attempts, next_attempt_at > now() + interval '30 s' AS later FROM outbox ORDER BY id`,
    );
    expect(rows.rows).toEqual([
      { attempts: 2, later: true },
      { attempts: 1, later: true },
      { attempts: 1, later: true },
      { attempts: 0, later: false },
      { attempts: 0, later: false },
      { attempts: 0, later: false },
    ]);
    expect(sent).toEqual([]);
  });

  it('sends a key only after its previous item was answered, while other keys go on past a slow delivery', async () => {
    await fill(1, 2, 'slow', 's');
    await fill(6, 3, 'app');
    const open = new Set<string>();
    const events: string[] = [];
    let release: () => void = () => {};
    const slowAnswered = new Promise<void>((resolve) => (release = resolve));
    const outbox = new Outbox(
      db,
      silent,
      async (row) => {
        const key = `${row.target}/${row.orderingKey}`;
        expect(open.has(key)).toBe(false);
        open.add(key);
        events.push(`${key}#${row.params.seq}`);
        if (row.target === 'slow' && row.params.seq === '0') await slowAnswered;
        else await new Promise((resolve) => setTimeout(resolve, Math.random() * 5));
        open.delete(key);
        return { kind: 'status', status: 200 };
      },
      { maxInFlight: 4 },
    );
    await outbox.start();
    // Every row of the other keys is delivered while the first row of `slow` waits for its answer.
    await expect.poll(waiting, { timeout: 5000 }).toBe(2);
    expect(events.filter((e) => e.startsWith('slow/'))).toEqual(['slow/s0#0']);
    release();
    await expect.poll(waiting, { timeout: 5000 }).toBe(0);
    await outbox.stop();
    expect(events.filter((e) => e.startsWith('slow/'))).toEqual(['slow/s0#0', 'slow/s0#1']);
    for (let k = 0; k < 6; k++) {
      expect(events.filter((e) => e.startsWith(`app/k${k}#`))).toEqual([
        `app/k${k}#0`,
        `app/k${k}#1`,
        `app/k${k}#2`,
      ]);
    }
  });

  it('dead-letters a refused row without its secrets and goes on with its key; retries keep the reason', async () => {
    await enqueue(db, {
      target: 'app',
      operation: 'm',
      orderingKey: 'a',
      params: { seq: '0', token: 't0k' },
    });
    await enqueue(db, { target: 'app', operation: 'm', orderingKey: 'a', params: { seq: '1' } });
    await enqueue(db, { target: 'app', operation: 'm', orderingKey: 'b', params: { seq: '0' } });
    await enqueue(db, { target: 'app', operation: 'm', orderingKey: 'b', params: { seq: '1' } });
    const reason = `refused: "quoted", {braced}, back\\slash`;
    const outbox = new Outbox(
      db,
      silent,
      (row): Promise<SendOutcome> => {
        sent.push(row);
        if (row.orderingKey === 'a' && row.params.seq === '0')
          return Promise.resolve({ kind: 'status', status: 422, detail: 'no such device' });
        if (row.orderingKey === 'b') return Promise.resolve({ kind: 'unreachable', reason });
        return Promise.resolve({ kind: 'status', status: 200 });
      },
      { baseDelayMs: 60_000 },
    );
    await outbox.drainOnce();
    await outbox.drainOnce();
    expect(sent.map((r) => `${r.orderingKey}#${r.params.seq}`)).toEqual(['a#0', 'b#0', 'a#1']);
    const dead = await db.query('SELECT ordering_key, params, attempts, status, reason FROM dead_letters');
    expect(dead.rows).toEqual([
      {
        ordering_key: 'a',
        params: { seq: '0', token: '[REDACTED]' },
        attempts: 1,
        status: 422,
        reason: 'no such device',
      },
    ]);
    const left = await db.query<{ ordering_key: string; attempts: number; last_error: string | null }>(
      'SELECT ordering_key, attempts, last_error FROM outbox ORDER BY id',
    );
    expect(left.rows).toEqual([
      { ordering_key: 'b', attempts: 1, last_error: reason },
      { ordering_key: 'b', attempts: 0, last_error: null },
    ]);
  });

  it('wakes a receiver that is back once, and again only after it failed once more', async () => {
    const WAKE = 'UPDATE outbox SET next_attempt_at = now() WHERE target';
    const recording = recordingDb(db);
    const wakes = () => recording.statements.filter((s) => s.sql.startsWith(WAKE)).length;
    const outbox = new Outbox(recording.db, silent, deliver, { baseDelayMs: 60_000, maxInFlight: 4 });
    const allDue = () => db.query('UPDATE outbox SET next_attempt_at = now()');
    await fill(8, 1);
    await outbox.drainOnce();
    await outbox.drainOnce();
    expect(await waiting()).toBe(8);

    // Eight retries answered 200 in two rounds: the first round's outcome wakes `app`, the second finds it awake.
    up = true;
    await allDue();
    await outbox.drainOnce();
    await outbox.drainOnce();
    await outbox.drainOnce();
    expect(await waiting()).toBe(0);
    expect(wakes()).toBe(1);

    // Down again: a failure since the wake, so the next retry answered 200 wakes it again.
    up = false;
    await fill(2, 1, 'app', 'again');
    await outbox.drainOnce();
    up = true;
    await allDue();
    await outbox.drainOnce();
    await outbox.drainOnce();
    expect(await waiting()).toBe(0);
    expect(wakes()).toBe(2);
    expect(sent.map((r) => r.orderingKey)).toEqual([
      ...['k0', 'k1', 'k2', 'k3', 'k4', 'k5', 'k6', 'k7'],
      ...['again0', 'again1'],
    ]);
  });

  it('drains a backlog of one key in order, each successor leased by the statement that deletes its predecessor', async () => {
    up = true;
    await fill(1, 300, 'app', 'one');
    await fill(3, 2, 'app', 'other');
    const recording = recordingDb(db);
    const outbox = new Outbox(recording.db, silent, deliver, { maxInFlight: 8 });
    await outbox.start();
    await expect.poll(waiting, { timeout: 10_000 }).toBe(0);
    await outbox.stop();
    expect(sent.filter((r) => r.orderingKey === 'one0').map((r) => r.params.seq)).toEqual(
      Array.from({ length: 300 }, (_, i) => String(i)),
    );
    // One statement per row of the long key (plus the start and the first rounds), not one per poll.
    const leases = recording.statements.filter((st) => st.sql.includes('leasable')).length;
    expect(leases).toBeGreaterThanOrEqual(300);
    expect(leases).toBeLessThan(320);
  });

  it("makes a row written while its key's last row is being deleted the key's head", async () => {
    up = true;
    await enqueue(db, { target: 'app', operation: 'm', orderingKey: 'k', params: { seq: '1' } });
    let answer: () => void = () => {};
    const answered = new Promise<void>((resolve) => (answer = resolve));
    const outbox = new Outbox(db, silent, async (row) => {
      sent.push(row);
      await answered;
      return { kind: 'status', status: 200 };
    });
    const round = outbox.drainOnce();
    await expect.poll(() => sent.length).toBe(1);
    // Row 2 is written (seeing row 1, so not a head) in a transaction that stays open while row 1, answered,
    // is deleted: the deletion must wait for it and then make row 2 the head.
    const writer = await heldTransaction(db, (tx) =>
      enqueue(tx, { target: 'app', operation: 'm', orderingKey: 'k', params: { seq: '2' } }),
    );
    answer();
    await new Promise((resolve) => setTimeout(resolve, 100));
    await writer.commit();
    expect(await round).toBe(1);
    expect((await db.query('SELECT params, head FROM outbox')).rows).toEqual([
      { params: { seq: '2' }, head: true },
    ]);
    sent = [];
    await outbox.drainOnce();
    expect(sent.map((r) => r.params.seq)).toEqual(['2']);
  });

  it('marks the heads of rows written without one (before heads were marked) when it starts', async () => {
    up = true;
    await db.query(
      `INSERT INTO outbox (target, operation, ordering_key, params)
       SELECT 'app', 'm', 'k' || (i % 2), jsonb_build_object('seq', i::text) FROM generate_series(0, 5) i`,
    );
    const outbox = new Outbox(db, silent, deliver);
    await outbox.start();
    await expect.poll(waiting, { timeout: 5000 }).toBe(0);
    await outbox.stop();
    expect(sent.map((r) => `${r.orderingKey}#${r.params.seq}`).sort()).toEqual([
      'k0#0',
      'k0#2',
      'k0#4',
      'k1#1',
      'k1#3',
      'k1#5',
    ]);
    for (const key of ['k0', 'k1'])
      expect(sent.filter((r) => r.orderingKey === key).map((r) => Number(r.params.seq))).toEqual(
        key === 'k0' ? [0, 2, 4] : [1, 3, 5],
      );
  });

  it('writes the outcomes of the deliveries in flight when stopped', async () => {
    await fill(3, 1);
    let answer: () => void = () => {};
    const answered = new Promise<void>((resolve) => (answer = resolve));
    let started = 0;
    const outbox = new Outbox(db, silent, async () => {
      started++;
      await answered;
      return { kind: 'status', status: 200 };
    });
    await outbox.start();
    await expect.poll(() => started).toBe(3);
    const stopping = outbox.stop();
    answer();
    await stopping;
    expect(await waiting()).toBe(0);
  });
});

const onPostgres = (process.env['DATABASE_URL'] ?? '') !== '';

// The plan that matters is the production server's; PGlite runs the tests above.
describe.skipIf(!onPostgres)('Outbox on PostgreSQL (skipped unless DATABASE_URL is set)', () => {
  it('leases from a large backlog of one key with index probes only, no anti join of the table with itself', async () => {
    // The lease statement as the outbox sends it: on an empty table a round is that one statement.
    const recording = recordingDb(db);
    expect(await new Outbox(recording.db, silent, deliver).drainOnce()).toBe(0);
    expect(recording.statements).toHaveLength(1);
    const lease = recording.statements[0]!;

    await db.query(
      `INSERT INTO outbox (target, operation, ordering_key, params, head)
       SELECT 'app', 'm', 'one', jsonb_build_object('seq', i::text), i = 1 FROM generate_series(1, 20000) i`,
    );
    await db.query('ANALYZE outbox');
    // As when the head (row 1) was delivered: deleted, its successor marked and leased in the same statement.
    const plan = await planNodes(db, {
      sql: lease.sql,
      params: [lease.params[0], lease.params[1], [1], ...lease.params.slice(3)],
    });
    expect(plan.filter((n) => n['Join Type'] === 'Anti')).toEqual([]);
    // The rows deleted, the successor, the heads and the rows leased are each found by an index probe: a backlog
    // of one key is never scanned. (Whether a leased row has a successor is the first match of a scan in id
    // order here, as the planner expects of one key.)
    const reads = new Map(plan.filter((n) => n['Relation Name'] === 'outbox').map((n) => [n.Alias, n]));
    for (const alias of ['outbox_1', 'n', 'h', 'o'])
      expect(reads.get(alias)?.['Node Type']).toBe('Index Scan');
    expect(reads.get('h')?.['Index Name']).toBe('outbox_heads');
  });
});
