import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  constraintName,
  isUniqueViolation,
  openDb,
  openTestDb,
  quoteSchema,
  sqlState,
  type Db,
} from '../src/index.js';
import { deferred, rejection } from './helpers.js';

const databaseUrl = process.env['DATABASE_URL'];
const onPostgres = databaseUrl !== undefined && databaseUrl !== '';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('Db', () => {
  let db: Db;

  beforeAll(async () => {
    db = await openTestDb('store');
    await db.exec(`
      CREATE TABLE items (
        id serial PRIMARY KEY,
        label text NOT NULL CONSTRAINT items_label_key UNIQUE,
        note text,
        doc jsonb,
        data bytea,
        big int8,
        day date
      );
      CREATE TABLE counters (name text PRIMARY KEY, n integer NOT NULL);
    `);
  });

  afterAll(async () => {
    await db?.close();
  });

  it('runs on the driver DATABASE_URL selects, in its own schema', () => {
    expect(db.kind).toBe(onPostgres ? 'postgres' : 'pglite');
    expect(db.schema).toMatch(/^store_[0-9a-f]{12}$/);
  });

  it('round-trips parameters: quotes, unicode, null, jsonb, bytea, int8, date', async () => {
    const label = `it's "quoted" \\ back\\slash $1 ; DROP TABLE items; --`;
    const unicode = 'héllo wörld ✓ 日本語 🚀 ﷽';
    const doc = { a: [1, 'two', null, true], nested: { quote: 'it\'s "x"' }, unicode: '✓🚀' };
    const bytes = Buffer.from([0, 1, 2, 127, 128, 255, 39, 92]);
    const inserted = await db.query<{ id: number }>(
      'INSERT INTO items (label, note, doc, data, big, day) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id',
      [label, unicode, JSON.stringify(doc), bytes, '9223372036854775807', '2024-02-29'],
    );
    expect(inserted).toEqual({ rows: [{ id: 1 }], rowCount: 1 });
    await db.query('INSERT INTO items (label, note, doc, data, big, day) VALUES ($1, $2, $3, $4, $5, $6)', [
      'nulls',
      null,
      null,
      null,
      null,
      null,
    ]);

    const { rows, rowCount } = await db.query('SELECT * FROM items WHERE id IN ($1, $2) ORDER BY id', [1, 2]);
    expect(rowCount).toBe(2);
    expect(rows).toEqual([
      { id: 1, label, note: unicode, doc, data: bytes, big: '9223372036854775807', day: '2024-02-29' },
      { id: 2, label: 'nulls', note: null, doc: null, data: null, big: null, day: null },
    ]);
    expect(Buffer.isBuffer(rows[0]?.['data'])).toBe(true);

    // Parameters compared on the server side, and a Uint8Array (not Buffer) for bytea.
    const matched = await db.query<{ id: number }>(
      'SELECT id FROM items WHERE label = $1 AND doc = $2::jsonb AND data = $3 AND note IS NOT DISTINCT FROM $4',
      [label, JSON.stringify(doc), new Uint8Array(bytes), unicode],
    );
    expect(matched.rows).toEqual([{ id: 1 }]);
  });

  it('returns the same value types on both drivers', async () => {
    const at = new Date('2024-03-01T12:34:56.789Z');
    const { rows } = await db.query(
      `SELECT $1::timestamptz AS at, '1 day 02:00:00'::interval AS span, 42::int4 AS i4, 2::int2 AS i2,
              1.5::float8 AS f8, 12.50::numeric(6,2) AS num, true AS yes, count(*) AS cnt, count(*)::int AS cnt_int,
              ARRAY[1, 9007199254740993]::int8[] AS bigs, ARRAY['2024-01-02']::date[] AS days,
              ARRAY['a', NULL, 'c"d']::text[] AS texts, $2::jsonb AS arr, '00000000-0000-0000-0000-000000000001'::uuid AS id
       FROM (VALUES (1), (2), (3)) v(x)`,
      [at, JSON.stringify([1, 'x'])],
    );
    expect(rows).toEqual([
      {
        at,
        span: '1 day 02:00:00',
        i4: 42,
        i2: 2,
        f8: 1.5,
        num: '12.50',
        yes: true,
        cnt: '3',
        cnt_int: 3,
        bigs: ['1', '9007199254740993'],
        days: ['2024-01-02'],
        texts: ['a', null, 'c"d'],
        arr: [1, 'x'],
        id: '00000000-0000-0000-0000-000000000001',
      },
    ]);
    expect(rows[0]?.['at']).toBeInstanceOf(Date);
  });

  it('reports rowCount for insert, update, delete, select and DDL', async () => {
    await db.exec('CREATE TABLE counted (k integer PRIMARY KEY, v text)');
    expect(
      (await db.query('INSERT INTO counted (k, v) VALUES (1, $1), (2, $1), (3, $2)', ['a', 'b'])).rowCount,
    ).toBe(3);
    expect(await db.query('UPDATE counted SET v = $1 WHERE v = $2', ['c', 'a'])).toEqual({
      rows: [],
      rowCount: 2,
    });
    expect(await db.query('UPDATE counted SET v = $1 WHERE k > $2', ['z', 100])).toEqual({
      rows: [],
      rowCount: 0,
    });
    expect(await db.query('DELETE FROM counted WHERE k = $1', [3])).toEqual({ rows: [], rowCount: 1 });
    expect(await db.query('DELETE FROM counted WHERE k = $1 RETURNING v', [2])).toEqual({
      rows: [{ v: 'c' }],
      rowCount: 1,
    });
    expect(await db.query('SELECT k, v FROM counted')).toEqual({ rows: [{ k: 1, v: 'c' }], rowCount: 1 });
    expect(await db.query('SELECT k FROM counted WHERE k < 0')).toEqual({ rows: [], rowCount: 0 });
    expect(await db.query('CREATE INDEX counted_v ON counted (v)')).toEqual({ rows: [], rowCount: 0 });
  });

  it('refuses several statements in query() with 42601 (exec() takes scripts)', async () => {
    const err = await rejection(db.query('SELECT 1; SELECT 2'));
    expect(sqlState(err)).toBe('42601');
    await db.exec(
      "INSERT INTO counters VALUES ('script', 1); UPDATE counters SET n = n + 1 WHERE name = 'script'",
    );
    expect((await db.query('SELECT n FROM counters WHERE name = $1', ['script'])).rows).toEqual([{ n: 2 }]);
  });

  it('sets search_path to the schema on every connection', async () => {
    const results = await Promise.all(
      Array.from({ length: 4 }, () =>
        db.query<{ path: string; schema: string; pid: number }>(
          "SELECT current_setting('search_path') AS path, current_schema() AS schema, pg_backend_pid() AS pid FROM pg_sleep(0.1)",
        ),
      ),
    );
    const rows = results.map((r) => r.rows[0]);
    for (const row of rows) expect(row).toMatchObject({ path: db.schema, schema: db.schema });
    // openTestDb gives PostgreSQL a pool of 4, so four concurrent sleeps use four connections.
    expect(new Set(rows.map((r) => r?.pid)).size).toBe(onPostgres ? 4 : 1);
    const inTx = await db.transaction((tx) =>
      tx.query<{ schema: string }>('SELECT current_schema() AS schema'),
    );
    expect(inTx.rows).toEqual([{ schema: db.schema }]);
    // Unqualified names land in the schema, not in public.
    const tables = await db.query<{ schema: string }>(
      "SELECT table_schema AS schema FROM information_schema.tables WHERE table_name = $1 AND table_schema IN ($2, 'public')",
      ['items', db.schema],
    );
    expect(tables.rows).toEqual([{ schema: db.schema }]);
  });

  it('isolates schemas: another Db on the same database does not see these tables', async () => {
    if (!onPostgres || databaseUrl === undefined) {
      // One PGlite instance per Db: the check above (search_path, table placement) is what isolation
      // rests on; here the schema must also be the only one holding the table.
      const holders = await db.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM pg_tables WHERE tablename = 'items' AND schemaname <> $1",
        [db.schema],
      );
      expect(holders.rows).toEqual([{ n: 0 }]);
      return;
    }
    const other = await openDb({ url: databaseUrl, schema: `${db.schema}_b`, dropSchemaOnClose: true });
    try {
      expect(sqlState(await rejection(other.query('SELECT * FROM items')))).toBe('42P01');
      await other.exec("CREATE TABLE items (label text); INSERT INTO items VALUES ('other')");
      expect((await other.query('SELECT label FROM items')).rows).toEqual([{ label: 'other' }]);
      expect(
        (await db.query('SELECT count(*)::int AS n FROM items WHERE label = $1', ['other'])).rows,
      ).toEqual([{ n: 0 }]);
    } finally {
      await other.close();
    }
    const gone = await db.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [`${db.schema}_b`]);
    expect(gone.rowCount).toBe(0);
  });

  describe('transaction', () => {
    it('commits and returns the value of fn', async () => {
      const result = await db.transaction(async (tx) => {
        await tx.query("INSERT INTO counters (name, n) VALUES ('commit', 1)");
        await tx.query("UPDATE counters SET n = n + 10 WHERE name = 'commit'");
        return (await tx.query<{ n: number }>("SELECT n FROM counters WHERE name = 'commit'")).rows[0]?.n;
      });
      expect(result).toBe(11);
      expect((await db.query("SELECT n FROM counters WHERE name = 'commit'")).rows).toEqual([{ n: 11 }]);
    });

    it('rolls back when fn throws and rethrows the same error', async () => {
      const boom = new Error('boom');
      const err = await rejection(
        db.transaction(async (tx) => {
          await tx.query("INSERT INTO counters (name, n) VALUES ('rollback', 1)");
          await tx.exec("INSERT INTO counters (name, n) VALUES ('rollback2', 1)");
          throw boom;
        }),
      );
      expect(err).toBe(boom);
      expect(
        (await db.query("SELECT count(*)::int AS n FROM counters WHERE name IN ('rollback', 'rollback2')"))
          .rows,
      ).toEqual([{ n: 0 }]);
    });

    it('rolls back on a database error inside fn', async () => {
      const err = await rejection(
        db.transaction(async (tx) => {
          await tx.query("INSERT INTO counters (name, n) VALUES ('dberror', 1)");
          await tx.query("INSERT INTO counters (name, n) VALUES ('dberror', 2)");
        }),
      );
      expect(isUniqueViolation(err)).toBe(true);
      expect((await db.query("SELECT count(*)::int AS n FROM counters WHERE name = 'dberror'")).rows).toEqual(
        [{ n: 0 }],
      );
    });

    it('refuses to commit when fn swallowed a database error (25P02)', async () => {
      const err = await rejection(
        db.transaction(async (tx) => {
          await tx.query("INSERT INTO counters (name, n) VALUES ('swallowed', 1)");
          await tx.query('SELECT * FROM no_such_table').catch(() => undefined);
          return 'done';
        }),
      );
      expect(sqlState(err)).toBe('25P02');
      expect((err as Error).message).toBe('Transaction was rolled back instead of committed');
      expect(
        (await db.query("SELECT count(*)::int AS n FROM counters WHERE name = 'swallowed'")).rows,
      ).toEqual([{ n: 0 }]);
    });

    it('throws when the Db itself is used inside fn, and when tx is used after the end', async () => {
      let kept: { query: (sql: string) => Promise<unknown> } | undefined;
      const err = await rejection(
        db.transaction(async (tx) => {
          kept = tx;
          await db.query('SELECT 1');
        }),
      );
      expect((err as Error).message).toBe(
        'Db.query() called inside Db.transaction(); use the tx argument (or start this work after the transaction)',
      );
      const nested = await rejection(db.transaction(() => db.transaction(async () => 1)));
      expect((nested as Error).message).toMatch(/^Db\.transaction\(\) called inside Db\.transaction\(\)/);
      expect(kept).toBeDefined();
      await expect(kept?.query('SELECT 1')).rejects.toThrow(/transaction is (finished|closed)/i);
      // The mark is cleared at the end: work started inside fn may use the Db afterwards.
      let later: Promise<unknown> | undefined;
      const ended = deferred();
      await db.transaction(async () => {
        later = ended.promise.then(() => db.query<{ one: number }>('SELECT 1 AS one'));
      });
      ended.resolve();
      expect(await later).toEqual({ rows: [{ one: 1 }], rowCount: 1 });
    });

    it('keeps the guard in a transaction that outlasts another (the context is tracked only while one runs)', async () => {
      const release = deferred();
      const first = db.transaction(async () => {
        await release.promise;
        await db.query('SELECT 1');
      });
      const second = db.transaction(async (tx) => (await tx.query<{ two: number }>('SELECT 2 AS two')).rows);
      // On PostgreSQL the second ends while the first is open; on PGlite it waits for the first.
      await Promise.race([second, new Promise((resolve) => setTimeout(resolve, 50))]);
      release.resolve();
      expect(((await rejection(first)) as Error).message).toMatch(/^Db\.query\(\) called inside/);
      expect(await second).toEqual([{ two: 2 }]);
      await expect(db.transaction(async () => db.query('SELECT 1'))).rejects.toThrow(/called inside/);
    });

    it('makes queries from outside wait (PGlite) or not see uncommitted rows (PostgreSQL)', async () => {
      const inserted = deferred();
      const release = deferred();
      const txDone = db.transaction(async (tx) => {
        await tx.query("INSERT INTO counters (name, n) VALUES ('concurrent', 1)");
        inserted.resolve();
        await release.promise;
        return 'committed';
      });
      await inserted.promise;
      let settled = false;
      const outside = db
        .query<{ n: number }>("SELECT count(*)::int AS n FROM counters WHERE name = 'concurrent'")
        .then((r) => {
          settled = true;
          return r.rows[0]?.n;
        });
      if (onPostgres) {
        expect(await outside).toBe(0);
      } else {
        await sleep(150);
        expect(settled).toBe(false);
      }
      release.resolve();
      expect(await txDone).toBe('committed');
      expect(await outside).toBe(onPostgres ? 0 : 1);
    });
  });

  it('recognises unique violations and SQLSTATEs of the driver', async () => {
    await db.query('INSERT INTO items (label) VALUES ($1)', ['unique-me']);
    const err = await rejection(db.query('INSERT INTO items (label) VALUES ($1)', ['unique-me']));
    expect(sqlState(err)).toBe('23505');
    expect(isUniqueViolation(err)).toBe(true);
    expect(isUniqueViolation(err, 'items_label_key')).toBe(true);
    expect(isUniqueViolation(err, 'items_pkey')).toBe(false);
    expect(constraintName(err)).toBe('items_label_key');
    expect(isUniqueViolation(new Error('wrapped', { cause: err }))).toBe(true);

    const notNull = await rejection(db.query('INSERT INTO items (label) VALUES (NULL)'));
    expect(sqlState(notNull)).toBe('23502');
    expect(isUniqueViolation(notNull)).toBe(false);
    expect(sqlState(await rejection(db.query('SELEC 1')))).toBe('42601');
  });

  it('is closed for good after close()', async () => {
    const temp = await openTestDb();
    expect((await temp.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    await temp.close();
    await temp.close();
    await expect(temp.query('SELECT 1')).rejects.toThrow('Db is closed');
    await expect(temp.transaction(async () => 1)).rejects.toThrow('Db is closed');
    if (onPostgres) {
      // dropSchemaOnClose (set by openTestDb) removed the schema.
      expect((await db.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [temp.schema])).rowCount).toBe(
        0,
      );
    }
  });
});

describe('error helpers without a database', () => {
  it('ignore non-database errors', () => {
    const epipe = Object.assign(new Error('write EPIPE'), { code: 'EPIPE', errno: -32, syscall: 'write' });
    expect(sqlState(epipe)).toBeUndefined();
    expect(sqlState(new Error('x'))).toBeUndefined();
    expect(sqlState(null)).toBeUndefined();
    expect(sqlState('23505')).toBeUndefined();
    expect(sqlState({ code: '23505' })).toBeUndefined();
    expect(sqlState({ code: '23505', severity: 'ERROR' })).toBe('23505');
    expect(isUniqueViolation({ code: '23503', severity: 'ERROR' })).toBe(false);
    expect(isUniqueViolation(undefined)).toBe(false);
  });
});

describe('schema names', () => {
  const bad = [
    '',
    'Bad',
    '1abc',
    'a-b',
    'a b',
    'a;drop',
    'a"b',
    'émile',
    'x'.repeat(64),
    'pg_foo',
    'pg_catalog',
  ];

  it.each(bad)('refuses %j before connecting', async (schema) => {
    await expect(openDb({ schema })).rejects.toThrow(TypeError);
    await expect(openDb({ schema, url: 'postgres://nobody@127.0.0.1:1/none' })).rejects.toThrow(
      /^invalid schema name/,
    );
    expect(() => quoteSchema(schema)).toThrow(TypeError);
  });

  it('accepts and quotes valid names', () => {
    expect(quoteSchema('account_server')).toBe('"account_server"');
    expect(quoteSchema('_x1')).toBe('"_x1"');
    expect(quoteSchema('user')).toBe('"user"');
    expect(quoteSchema('a'.repeat(63))).toBe(`"${'a'.repeat(63)}"`);
  });

  it('refuses a bad prefix in openTestDb and a non-postgres url', async () => {
    await expect(openTestDb('Bad')).rejects.toThrow(/^invalid schema name/);
    await expect(openTestDb('x'.repeat(51))).rejects.toThrow(/^invalid schema name/);
    await expect(openDb({ schema: 'ok', url: 'mysql://localhost/db' })).rejects.toThrow(
      'database url must start with postgres:// or postgresql://',
    );
  });
});
