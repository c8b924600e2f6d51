/**
 * Enqueueing outbox items inside a caller's transaction: rows appear at commit, in the order enqueued, each key's
 * first row its head; and on PostgreSQL two transactions that write to the same two keys in opposite orders both
 * commit, with a lease of those keys running between them (before, the key locks were taken as items were
 * enqueued, and the three deadlocked).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enqueueItem, openTestDb, outboxStatements, type Db, type Executor } from '../src/index.js';

const statements = outboxStatements({
  name: 'test_outbox',
  deadLetters: 'test_dead_letters',
  key: 'ordering_key',
  receiver: 'target',
  payload: ['target', 'body'],
});

let db: Db;

beforeAll(async () => {
  db = await openTestDb('enqueue');
  await db.exec(`CREATE TABLE test_outbox (
    id bigserial PRIMARY KEY,
    ordering_key text NOT NULL,
    target text NOT NULL,
    body text NOT NULL,
    head boolean NOT NULL DEFAULT false
  )`);
});

afterAll(async () => {
  await db?.close();
});

const rows = async () =>
  (
    await db.query<{ ordering_key: string; body: string; head: boolean }>(
      'SELECT ordering_key, body, head FROM test_outbox ORDER BY id',
    )
  ).rows;

/** A promise and the function that settles it. */
function gate(): { opened: Promise<void>; open: () => void } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

describe('enqueueItem in a transaction', () => {
  it('writes the rows at commit, in the order enqueued, the first of each key its head', async () => {
    await db.exec('TRUNCATE test_outbox');
    await db.transaction(async (tx) => {
      await enqueueItem(tx, statements, { ordering_key: 'bob', target: 'as', body: '1' });
      await enqueueItem(tx, statements, { ordering_key: 'alice', target: 'as', body: '2' });
      await enqueueItem(tx, statements, { ordering_key: 'bob', target: 'as', body: '3' });
    });
    expect(await rows()).toEqual([
      { ordering_key: 'bob', body: '1', head: true },
      { ordering_key: 'alice', body: '2', head: true },
      { ordering_key: 'bob', body: '3', head: false },
    ]);
  });

  it('writes nothing when the transaction rolls back', async () => {
    await db.exec('TRUNCATE test_outbox');
    await expect(
      db.transaction(async (tx) => {
        await enqueueItem(tx, statements, { ordering_key: 'bob', target: 'as', body: 'lost' });
        throw new Error('changed my mind');
      }),
    ).rejects.toThrow('changed my mind');
    expect(await rows()).toEqual([]);
  });

  it.skipIf(!process.env['DATABASE_URL'])(
    'two transactions writing keys in opposite orders and a lease of both keys all finish (PostgreSQL)',
    async () => {
      await db.exec('TRUNCATE test_outbox');
      await enqueueItem(db, statements, { ordering_key: 'gateway', target: 'as', body: 'old' });
      await enqueueItem(db, statements, { ordering_key: 'user', target: 'as', body: 'old' });
      const old = (await db.query<{ id: string }>('SELECT id FROM test_outbox ORDER BY id')).rows.map((r) =>
        Number(r.id),
      );
      const firstWritten = [gate(), gate()];
      const leaseWaiting = gate();
      const write = (first: string, second: string, i: number) =>
        db.transaction(async (tx: Executor) => {
          await enqueueItem(tx, statements, { ordering_key: first, target: 'as', body: `${i}a` });
          firstWritten[i]!.open();
          await Promise.all(firstWritten.map((g) => g.opened));
          await leaseWaiting.opened;
          await enqueueItem(tx, statements, { ordering_key: second, target: 'as', body: `${i}b` });
        });
      const writers = [write('user', 'gateway', 0), write('gateway', 'user', 1)];
      await Promise.all(firstWritten.map((g) => g.opened));
      // A lease deleting the delivered rows of both keys locks both keys, as the outbox's does.
      const lease = db.transaction(async (tx) => {
        const locked = tx.query(statements.lockKeysOf, [old]);
        leaseWaiting.open();
        await locked;
        await tx.query('DELETE FROM test_outbox WHERE id = ANY($1::bigint[])', [old]);
      });
      const outcomes = await Promise.allSettled([...writers, lease]);
      expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled']);
      const written = await rows();
      expect(written.map((r) => r.body).sort()).toEqual(['0a', '0b', '1a', '1b']);
      // Per key, both transactions' rows, in the order the two committed.
      const byKey = (key: string) => written.filter((r) => r.ordering_key === key).map((r) => r.body);
      expect([
        { user: ['0a', '1b'], gateway: ['0b', '1a'] },
        { user: ['1b', '0a'], gateway: ['1a', '0b'] },
      ]).toContainEqual({ user: byKey('user'), gateway: byKey('gateway') });
    },
  );
});
