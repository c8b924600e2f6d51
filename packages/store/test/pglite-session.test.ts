import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { openDb, openPgliteHost, sqlState, type Db, type PgliteHost } from '../src/index.js';
import { deferred, rejection } from './helpers.js';

// Always PGlite, whatever DATABASE_URL says: the one-buffer statement path and its prepared-statement cache.

/** The statements this package prepared in the (single) PGlite session, by text. */
async function prepared(db: Db, like: string): Promise<string[]> {
  const { rows } = await db.query<{ statement: string }>(
    "SELECT statement FROM pg_prepared_statements WHERE name LIKE 'irsp\\_s%' AND statement LIKE $1 ORDER BY name",
    [like],
  );
  return rows.map((r) => r.statement);
}

describe('PGlite statements', () => {
  let db: Db;

  beforeAll(async () => {
    db = await openDb({ schema: 'svc' });
    await db.exec('CREATE TABLE t (id integer PRIMARY KEY, v text)');
  });
  afterAll(async () => {
    await db?.close();
  });

  it('prepares a text once and reports errors as PGlite does (SQLSTATE, fields, query, params)', async () => {
    const insert = 'INSERT INTO t (id, v) VALUES ($1, $2) /* once */';
    for (let i = 0; i < 3; i++) await db.query(insert, [i, 'x']);
    expect(await prepared(db, '%/* once */')).toEqual([insert]);

    const err = (await rejection(db.query(insert, [1, 'dup']))) as Record<string, unknown>;
    expect(err).toBeInstanceOf(Error);
    expect(err).toMatchObject({
      name: 'error',
      message: 'duplicate key value violates unique constraint "t_pkey"',
      severity: 'ERROR',
      code: '23505',
      detail: 'Key (id)=(1) already exists.',
      schema: 'svc',
      table: 't',
      constraint: 't_pkey',
      routine: '_bt_check_unique',
      query: insert,
      params: [1, 'dup'],
    });
    // A failed Parse prepares nothing: no name is left behind for the text.
    expect(sqlState(await rejection(db.query('SELECT * FROM nowhere /* never */')))).toBe('42P01');
    expect(await prepared(db, '%/* never */')).toEqual([]);
  });

  it('keeps at most 400 prepared statements, re-preparing evicted texts', async () => {
    for (let i = 0; i < 650; i++) {
      expect((await db.query(`SELECT ${i} AS n /* bound */`)).rows).toEqual([{ n: i }]);
    }
    const { rows } = await db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_prepared_statements WHERE name LIKE 'irsp\\_s%'",
    );
    expect(rows[0]!.n).toBeGreaterThan(300);
    expect(rows[0]!.n).toBeLessThanOrEqual(401);
    expect((await db.query('SELECT 0 AS n /* bound */')).rows).toEqual([{ n: 0 }]);
  });

  it('sees a changed table in a statement it ran before (ALTER through exec and through query)', async () => {
    await db.exec('CREATE TABLE shape2 (a integer); INSERT INTO shape2 VALUES (1)');
    const all = 'SELECT * FROM shape2';
    expect((await db.query(all)).rows).toEqual([{ a: 1 }]);
    await db.exec('ALTER TABLE shape2 ADD COLUMN b text');
    expect((await db.query(all)).rows).toEqual([{ a: 1, b: null }]);
    await db.query('ALTER TABLE shape2 ADD COLUMN c integer DEFAULT 3');
    expect((await db.query(all)).rows).toEqual([{ a: 1, b: null, c: 3 }]);
    expect(await db.transaction((tx) => tx.query(all))).toEqual({
      rows: [{ a: 1, b: null, c: 3 }],
      rowCount: 1,
    });
  });

  it('re-prepares a statement whose result type a rolled-back ALTER changed', async () => {
    await db.exec('CREATE TABLE shape (a integer); INSERT INTO shape VALUES (1)');
    const all = 'SELECT * FROM shape';
    await rejection(
      db.transaction(async (tx) => {
        await tx.query('ALTER TABLE shape ADD COLUMN b text');
        expect((await tx.query(all)).rows).toEqual([{ a: 1, b: null }]);
        throw new Error('undo');
      }),
    );
    // Outside a transaction the stale statement is prepared again and the statement sent again, unseen.
    expect((await db.query(all)).rows).toEqual([{ a: 1 }]);

    await rejection(
      db.transaction(async (tx) => {
        await tx.query('ALTER TABLE shape ADD COLUMN b text');
        await tx.query(all);
        throw new Error('undo');
      }),
    );
    // Inside one it cannot be (the error aborted the transaction): it fails once, then works.
    const stale = await rejection(db.transaction((tx) => tx.query(all)));
    expect(sqlState(stale)).toBe('0A000');
    expect(await db.transaction((tx) => tx.query(all))).toEqual({ rows: [{ a: 1 }], rowCount: 1 });
  });

  it('orders statements and transactions in call order: before sees nothing, after sees the commit', async () => {
    await db.exec('CREATE TABLE seen (k text)');
    const count = 'SELECT count(*)::int AS n FROM seen';
    const order: string[] = [];
    const release = deferred();
    const before = db.query(count).then((r) => (order.push('before'), r.rows[0]));
    const tx = db.transaction(async (q) => {
      order.push('tx');
      await q.query("INSERT INTO seen VALUES ('x')");
      await release.promise;
      return (await q.query(count)).rows[0];
    });
    const after = db.query(count).then((r) => (order.push('after'), r.rows[0]));
    await new Promise((r) => setTimeout(r, 50));
    expect(order).toEqual(['before', 'tx']);
    release.resolve();
    expect(await Promise.all([before, tx, after])).toEqual([{ n: 0 }, { n: 1 }, { n: 1 }]);
    expect(order).toEqual(['before', 'tx', 'after']);
  });
});

describe('PgliteHost statements', () => {
  let host: PgliteHost;
  let a: Db;
  let b: Db;

  beforeAll(async () => {
    host = await openPgliteHost();
    a = await host.db('svc_a');
    b = await host.db('svc_b');
    await a.exec('CREATE TABLE t (id integer, owner text)');
    await b.exec('CREATE TABLE t (id integer, owner text)');
  });
  afterAll(async () => {
    await host?.close();
  });

  it('never runs one view’s statement on another view’s table, with the same text interleaved', async () => {
    const insert = 'INSERT INTO t (id, owner) VALUES ($1, $2) RETURNING owner, current_schema() AS s';
    const select = 'SELECT owner, count(*)::int AS n FROM t GROUP BY owner';
    const worker = async (db: Db, id: number): Promise<string[]> => {
      const seen: string[] = [];
      for (let i = 0; i < 20; i++) {
        const { rows } =
          i % 3 === 2
            ? await db.transaction((tx) => tx.query(insert, [id, db.schema]))
            : await db.query(insert, [id, db.schema]);
        seen.push(`${String(rows[0]?.['owner'])}@${String(rows[0]?.['s'])}`);
        seen.push(...(await db.query(select)).rows.map((r) => String(r['owner'])));
      }
      return seen;
    };
    const [fromA, fromB, fromA2, fromB2] = await Promise.all([
      worker(a, 1),
      worker(b, 2),
      worker(a, 3),
      worker(b, 4),
    ]);
    for (const seen of [fromA, fromA2]) expect(new Set(seen)).toEqual(new Set(['svc_a@svc_a', 'svc_a']));
    for (const seen of [fromB, fromB2]) expect(new Set(seen)).toEqual(new Set(['svc_b@svc_b', 'svc_b']));
    expect((await a.query(select)).rows).toEqual([{ owner: 'svc_a', n: 40 }]);
    expect((await b.query(select)).rows).toEqual([{ owner: 'svc_b', n: 40 }]);
    // One prepared statement per schema for the same text.
    expect(await prepared(a, insert)).toEqual([insert, insert]);
  });

  it('leaves the session without a schema between statements', async () => {
    // A view's statement sets search_path for its own implicit transaction only; exec's script that commits
    // early finds it empty.
    expect((await a.query("SELECT current_setting('search_path') AS p")).rows).toEqual([{ p: 'svc_a' }]);
    expect(sqlState(await rejection(b.exec('COMMIT; SELECT * FROM t')))).toBe('42P01');
    expect((await b.query("SELECT current_setting('search_path') AS p")).rows).toEqual([{ p: 'svc_b' }]);
  });
});
