/**
 * The durable outbox (DESIGN "Delivery guarantees"): in order per ordering key, retried with back-off while the
 * receiver is down, and drained at once (still in order) when a retry finds it back.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SendOutcome } from '@irsp/http';
import { loadMigrations, migrate, openTestDb, type Db } from '@irsp/store';
import { Outbox, enqueue, type OutboxRow } from '../src/outbox.js';

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

afterEach(async () => {
  await db.close();
});

async function fill(keys: number, perKey: number, target = 'app') {
  for (let i = 0; i < perKey; i++) {
    for (let k = 0; k < keys; k++) {
      await enqueue(db, { target, operation: 'm', orderingKey: `k${k}`, params: { seq: String(i) } });
    }
  }
}

const waiting = async () =>
  (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM outbox')).rows[0]!.n;

describe('Outbox', () => {
  it('delivers in order per key, and a receiver that answers again gets its whole backlog at once', async () => {
    // A back-off of a minute: only the row made due below is retried before the end of the test.
    const outbox = new Outbox(db, silent, deliver, { baseDelayMs: 60_000, batchSize: 4 });
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
    outbox.start();
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
});
