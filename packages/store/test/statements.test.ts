import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { openTestDb, sqlState, type Db } from '../src/index.js';
import { rejection } from './helpers.js';

// Statement-level behaviour both drivers must share (PGlite's one-buffer path, pg's pool): parameters as node-postgres
// converts them, prepared statements that recover from failures.

describe('Db statements', () => {
  let db: Db;

  beforeAll(async () => {
    db = await openTestDb('stmt');
    await db.exec(`
      CREATE TABLE kinds (
        id serial PRIMARY KEY, big int8, bigs int8[], texts text[], floats float8[], doc jsonb, at timestamptz,
        data bytea, n int4, f float8, yes bool, note text, day date
      );
      CREATE TABLE uniq (k text PRIMARY KEY, v integer NOT NULL);
    `);
  });
  afterAll(async () => {
    await db?.close();
  });

  it('takes every parameter type the services pass, converted as node-postgres converts it', async () => {
    const at = new Date('2024-03-01T12:34:56.789Z');
    const bytes = Buffer.from([0, 1, 39, 92, 128, 255]);
    const texts = ['a', null, 'c"d', 'back\\slash', '', 'NULL', '{x,y}', 'héllo ✓'];
    const doc = { a: [1, 'x', null], nested: { quote: 'it\'s "q"' }, b: null };
    const inserted = await db.query(
      `INSERT INTO kinds (big, bigs, texts, floats, doc, at, data, n, f, yes, note, day)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING *`,
      [
        9007199254740993n,
        ['1', 2, '9223372036854775807'],
        texts,
        [1.5, -2, 0],
        doc,
        at,
        bytes,
        42,
        2.25,
        false,
        undefined,
        '2024-02-29',
      ],
    );
    expect(inserted).toEqual({
      rows: [
        {
          id: 1,
          big: '9007199254740993',
          bigs: ['1', '2', '9223372036854775807'],
          texts,
          floats: [1.5, -2, 0],
          doc,
          at,
          data: bytes,
          n: 42,
          f: 2.25,
          yes: false,
          note: null,
          day: '2024-02-29',
        },
      ],
      rowCount: 1,
    });

    // Parameters compared on the server: a Uint8Array is bytea, JSON text is jsonb, a Date is timestamptz.
    const found = await db.query(
      `SELECT id FROM kinds WHERE id = ANY($1::bigint[]) AND texts = $2::text[] AND doc = $3::jsonb AND data = $4
         AND at = $5 AND yes = $6 AND note IS NULL AND big = $7`,
      [[1, '3'], texts, JSON.stringify(doc), new Uint8Array(bytes), at, false, '9007199254740993'],
    );
    expect(found).toEqual({ rows: [{ id: 1 }], rowCount: 1 });

    const updated = await db.query(
      'UPDATE kinds SET n = n + 1, doc = $2 WHERE id = ANY($1::bigint[]) RETURNING id, n, doc',
      [['1'], JSON.stringify([1, 'two'])],
    );
    expect(updated).toEqual({ rows: [{ id: 1, n: 43, doc: [1, 'two'] }], rowCount: 1 });

    const unnested = await db.query(
      `SELECT f.id::int AS id, f.reason, f.delay FROM unnest($1::bigint[], $2::text[], $3::double precision[])
         AS f(id, reason, delay) ORDER BY 1`,
      [
        [2, 1],
        ['b', null],
        [0.5, 1000],
      ],
    );
    expect(unnested.rows).toEqual([
      { id: 1, reason: null, delay: 1000 },
      { id: 2, reason: 'b', delay: 0.5 },
    ]);
    expect((await db.query('SELECT $1::text AS t, $2::int AS i', [true, '7'])).rows).toEqual([
      { t: 'true', i: 7 },
    ]);
  });

  it('keeps running a statement many times, also after it failed at execution', async () => {
    const upsert = 'INSERT INTO uniq (k, v) VALUES ($1, $2) RETURNING k, v';
    for (let i = 0; i < 12; i++) {
      expect((await db.query(upsert, [`k${i}`, i])).rows).toEqual([{ k: `k${i}`, v: i }]);
    }
    const dup = await rejection(db.query(upsert, ['k1', 100]));
    expect(sqlState(dup)).toBe('23505');
    expect((dup as { constraint?: string }).constraint).toBe('uniq_pkey');
    expect(sqlState(await rejection(db.query(upsert, ['k13', 'not a number'])))).toBe('22P02');
    expect((await db.query(upsert, ['k12', 12])).rows).toEqual([{ k: 'k12', v: 12 }]);
    const count = 'SELECT count(*)::int AS n FROM uniq WHERE v >= $1';
    for (let i = 0; i < 12; i++) expect((await db.query(count, [i])).rows).toEqual([{ n: 13 - i }]);
  });

  it('reports parse errors with their SQLSTATE every time, and runs the text once it is valid', async () => {
    for (let i = 0; i < 3; i++) {
      expect(sqlState(await rejection(db.query('SELEC $1', [1])))).toBe('42601');
      expect(sqlState(await rejection(db.query('SELECT v FROM later WHERE v = $1', [1])))).toBe('42P01');
      expect(sqlState(await rejection(db.query('SELECT 1; SELECT 2')))).toBe('42601');
    }
    await db.exec('CREATE TABLE later (v integer)');
    await db.query('INSERT INTO later VALUES ($1)', [1]);
    expect((await db.query('SELECT v FROM later WHERE v = $1', [1])).rows).toEqual([{ v: 1 }]);
  });

  it('answers an empty statement with no rows', async () => {
    expect(await db.query('')).toEqual({ rows: [], rowCount: 0 });
  });

  it('rolls back on throw and keeps the statements used inside usable', async () => {
    const insert = 'INSERT INTO uniq (k, v) VALUES ($1, $2)';
    const boom = new Error('boom');
    expect(
      await rejection(
        db.transaction(async (tx) => {
          await tx.query(insert, ['rolled', 1]);
          throw boom;
        }),
      ),
    ).toBe(boom);
    await db.query(insert, ['kept', 2]);
    expect((await db.query('SELECT k FROM uniq WHERE k IN ($1, $2)', ['rolled', 'kept'])).rows).toEqual([
      { k: 'kept' },
    ]);
  });
});
