import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { migrate, openDb, openPgliteHost, sqlState, type Db, type PgliteHost } from '../src/index.js';
import { deferred, rejection } from './helpers.js';

// Always PGlite, whatever DATABASE_URL says.

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const GUARD =
  'called inside Db.transaction(); use the tx argument (or start this work after the transaction)';

async function columnsOf(db: Db, table: string): Promise<string[]> {
  const { rows } = await db.query<{ column_name: string }>(
    `SELECT column_name FROM information_schema.columns
      WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position`,
    [table],
  );
  return rows.map((r) => r.column_name);
}

describe('PgliteHost views', () => {
  let host: PgliteHost;
  let a: Db;
  let b: Db;

  beforeAll(async () => {
    host = await openPgliteHost({});
    a = await host.db('svc_a');
    b = await host.db('svc_b');
    await a.exec('CREATE TABLE t (id serial PRIMARY KEY, x integer NOT NULL)');
    await b.exec('CREATE TABLE t (id serial PRIMARY KEY, y text NOT NULL, big int8, data bytea)');
  });
  afterAll(async () => {
    await host?.close();
  });

  it('gives each view its own schema: same table name, different columns, own rows', async () => {
    expect([a.kind, a.schema, b.kind, b.schema]).toEqual(['pglite', 'svc_a', 'pglite', 'svc_b']);
    expect(await columnsOf(a, 't')).toEqual(['id', 'x']);
    expect(await columnsOf(b, 't')).toEqual(['id', 'y', 'big', 'data']);

    expect(await a.query('INSERT INTO t (x) VALUES ($1), ($2) RETURNING id, x', [10, 20])).toEqual({
      rows: [
        { id: 1, x: 10 },
        { id: 2, x: 20 },
      ],
      rowCount: 2,
    });
    // Same parsers as openDb's PGlite: int8 → string, bytea → Buffer.
    await b.query('INSERT INTO t (y, big, data) VALUES ($1, $2, $3)', [
      'only-b',
      '9223372036854775807',
      Buffer.from([0, 255]),
    ]);
    expect((await a.query('SELECT id, x FROM t ORDER BY id')).rows).toEqual([
      { id: 1, x: 10 },
      { id: 2, x: 20 },
    ]);
    expect((await b.query('SELECT id, y, big, data FROM t')).rows).toEqual([
      { id: 1, y: 'only-b', big: '9223372036854775807', data: Buffer.from([0, 255]) },
    ]);
    expect(sqlState(await rejection(a.query('SELECT y FROM t')))).toBe('42703');
    expect(sqlState(await rejection(b.query('SELECT x FROM t')))).toBe('42703');

    const where = await a.query<{ schema: string; path: string }>(
      "SELECT current_schema() AS schema, current_setting('search_path') AS path",
    );
    expect(where.rows).toEqual([{ schema: 'svc_a', path: 'svc_a' }]);
    const tables = await b.query(
      "SELECT table_schema AS schema FROM information_schema.tables WHERE table_name = 't' ORDER BY 1",
    );
    expect(tables.rows).toEqual([{ schema: 'svc_a' }, { schema: 'svc_b' }]);
  });

  it('runs interleaved concurrent calls of two views each in its own schema', async () => {
    await a.exec('CREATE TABLE hits (n integer NOT NULL, via text NOT NULL)');
    await b.exec('CREATE TABLE hits (n integer NOT NULL, via text NOT NULL)');
    const seen: string[] = [];
    /** Alternates query, exec and transaction on one view; every await lets the other workers in. */
    const worker = async (db: Db, id: number): Promise<void> => {
      for (let i = 0; i < 25; i++) {
        const { rows } = await db.query<{ schema: string; n: number }>(
          'SELECT current_schema() AS schema, $1::int AS n',
          [i],
        );
        seen.push(`${db.schema}:${rows[0]?.schema}:${rows[0]?.n === i}`);
        await db.query("INSERT INTO hits (n, via) VALUES ($1, 'query')", [id]);
        await db.exec(`INSERT INTO hits (n, via) VALUES (${id}, 'exec')`);
        await db.transaction(async (tx) => {
          await tx.query("INSERT INTO hits (n, via) VALUES ($1, 'tx')", [id]);
          const inTx = await tx.query<{ schema: string }>('SELECT current_schema() AS schema');
          seen.push(`${db.schema}:${inTx.rows[0]?.schema}:tx`);
        });
      }
    };
    await Promise.all([worker(a, 1), worker(b, 2), worker(a, 3), worker(b, 4)]);

    expect(seen).toHaveLength(200);
    expect(seen.filter((s) => s === 'svc_a:svc_a:true')).toHaveLength(50);
    expect(seen.filter((s) => s === 'svc_b:svc_b:true')).toHaveLength(50);
    expect(seen.filter((s) => s === 'svc_a:svc_a:tx')).toHaveLength(50);
    expect(seen.filter((s) => s === 'svc_b:svc_b:tx')).toHaveLength(50);
    // The calls really interleaved: the first 20 results are not all from one view.
    expect(new Set(seen.slice(0, 20).map((s) => s.split(':')[0])).size).toBe(2);

    const counts = (db: Db) =>
      db.query('SELECT n, via, count(*)::int AS c FROM hits GROUP BY n, via ORDER BY n, via');
    expect((await counts(a)).rows).toEqual([
      { n: 1, via: 'exec', c: 25 },
      { n: 1, via: 'query', c: 25 },
      { n: 1, via: 'tx', c: 25 },
      { n: 3, via: 'exec', c: 25 },
      { n: 3, via: 'query', c: 25 },
      { n: 3, via: 'tx', c: 25 },
    ]);
    expect((await counts(b)).rows).toEqual([
      { n: 2, via: 'exec', c: 25 },
      { n: 2, via: 'query', c: 25 },
      { n: 2, via: 'tx', c: 25 },
      { n: 4, via: 'exec', c: 25 },
      { n: 4, via: 'query', c: 25 },
      { n: 4, via: 'tx', c: 25 },
    ]);
  });

  it('commits and rolls back a view transaction, and makes the other views wait for its end', async () => {
    await a.exec('CREATE TABLE ledger (k text PRIMARY KEY)');
    await b.exec('CREATE TABLE ledger (k text PRIMARY KEY)');

    const inserted = deferred();
    const release = deferred();
    const txDone = a.transaction(async (tx) => {
      await tx.query("INSERT INTO ledger VALUES ('a-commit')");
      inserted.resolve();
      await release.promise;
      return (await tx.query<{ schema: string }>('SELECT current_schema() AS schema')).rows[0]?.schema;
    });
    await inserted.promise;
    const order: string[] = [];
    const fromB = b.query<{ n: number }>('SELECT count(*)::int AS n FROM ledger').then((r) => {
      order.push('b');
      return r.rows;
    });
    const fromA = a.query<{ k: string }>('SELECT k FROM ledger').then((r) => {
      order.push('a');
      return r.rows;
    });
    await sleep(150);
    expect(order).toEqual([]);
    release.resolve();
    expect(await txDone).toBe('svc_a');
    expect(await fromB).toEqual([{ n: 0 }]);
    expect(await fromA).toEqual([{ k: 'a-commit' }]);
    expect(order).toEqual(['b', 'a']);

    const boom = new Error('boom');
    const err = await rejection(
      a.transaction(async (tx) => {
        await tx.query("INSERT INTO ledger VALUES ('a-rollback')");
        await tx.exec("INSERT INTO ledger VALUES ('a-rollback-2')");
        throw boom;
      }),
    );
    expect(err).toBe(boom);
    expect((await a.query('SELECT k FROM ledger ORDER BY k')).rows).toEqual([{ k: 'a-commit' }]);

    // A database error rolls back too, and the next statement of another view is unaffected.
    const dup = await rejection(
      b.transaction(async (tx) => {
        await tx.query("INSERT INTO ledger VALUES ('b1')");
        await tx.query("INSERT INTO ledger VALUES ('b1')");
      }),
    );
    expect(sqlState(dup)).toBe('23505');
    expect((await b.query('SELECT count(*)::int AS n FROM ledger')).rows).toEqual([{ n: 0 }]);
    expect((await a.query('SELECT current_schema() AS s')).rows).toEqual([{ s: 'svc_a' }]);
  });

  it('keeps the Db rules: the guard, 25P02, a finished tx, rowCount', async () => {
    let kept: { query: (sql: string) => Promise<unknown> } | undefined;
    const own = await rejection(
      a.transaction(async (tx) => {
        kept = tx;
        await a.query('SELECT 1');
      }),
    );
    expect((own as Error).message).toBe(`Db.query() ${GUARD}`);
    // Any view of the host, and the host itself, would wait forever: they throw too.
    expect((await rejection(a.transaction(() => b.exec('SELECT 1')))) as Error).toHaveProperty(
      'message',
      `Db.exec() ${GUARD}`,
    );
    expect((await rejection(a.transaction(() => b.transaction(async () => 1)))) as Error).toHaveProperty(
      'message',
      `Db.transaction() ${GUARD}`,
    );
    expect((await rejection(a.transaction(() => host.db('svc_c')))) as Error).toHaveProperty(
      'message',
      `PgliteHost.db() ${GUARD}`,
    );
    await expect(kept?.query('SELECT 1')).rejects.toThrow('Transaction is closed');

    // The mark is cleared at the end: work started inside fn may use the views afterwards.
    let later: Promise<unknown> | undefined;
    const ended = deferred();
    await a.transaction(async () => {
      later = ended.promise.then(() => b.query<{ s: string }>('SELECT current_schema() AS s'));
    });
    ended.resolve();
    expect(await later).toEqual({ rows: [{ s: 'svc_b' }], rowCount: 1 });

    await a.exec('CREATE TABLE rules (k integer PRIMARY KEY, v text)');
    const swallowed = await rejection(
      a.transaction(async (tx) => {
        await tx.query("INSERT INTO rules VALUES (1, 'swallowed')");
        await tx.query('SELECT * FROM no_such_table').catch(() => undefined);
        return 'done';
      }),
    );
    expect(sqlState(swallowed)).toBe('25P02');
    expect((swallowed as Error).message).toBe('Transaction was rolled back instead of committed');
    expect((await a.query('SELECT count(*)::int AS n FROM rules')).rows).toEqual([{ n: 0 }]);

    expect((await a.query('INSERT INTO rules VALUES (1, $1), (2, $1), (3, $2)', ['x', 'y'])).rowCount).toBe(
      3,
    );
    expect(await a.query('UPDATE rules SET v = $1 WHERE v = $2', ['z', 'x'])).toEqual({
      rows: [],
      rowCount: 2,
    });
    expect(await a.query('DELETE FROM rules WHERE k = $1 RETURNING v', [3])).toEqual({
      rows: [{ v: 'y' }],
      rowCount: 1,
    });
    expect(await a.query('SELECT k FROM rules WHERE k < 0')).toEqual({ rows: [], rowCount: 0 });
    expect(await a.query('CREATE INDEX rules_v ON rules (v)')).toEqual({ rows: [], rowCount: 0 });
    expect(sqlState(await rejection(a.query('SELECT 1; SELECT 2')))).toBe('42601');
  });

  it('runs every statement in a transaction: no statement escapes into another schema', async () => {
    // A script's own COMMIT ends the view's transaction; what follows finds the session's empty
    // search_path and fails rather than landing in some schema.
    const escaped = await rejection(a.exec('COMMIT; CREATE TABLE escaped (x integer)'));
    expect(sqlState(escaped)).toBe('3F000');
    expect(
      (await a.query("SELECT count(*)::int AS n FROM pg_tables WHERE tablename = 'escaped'")).rows,
    ).toEqual([{ n: 0 }]);
    // Statements that cannot run in a transaction block are refused on a view.
    expect(sqlState(await rejection(a.exec('VACUUM')))).toBe('25001');
    expect((await b.query('SELECT current_schema() AS s')).rows).toEqual([{ s: 'svc_b' }]);
  });

  it('migrates two views separately, each recording its migrations in its own schema', async () => {
    const x = await host.db('mig_x');
    const y = await host.db('mig_y');
    const first = { version: 1, name: 'create_notes', sql: 'CREATE TABLE notes (id integer PRIMARY KEY);' };
    const second = {
      version: 2,
      name: 'seed',
      sql: "ALTER TABLE notes ADD COLUMN body text; INSERT INTO notes VALUES (1, 'it''s x');",
    };
    const otherFirst = { version: 1, name: 'create_other', sql: 'CREATE TABLE notes (label text);' };

    expect(await Promise.all([migrate(x, [first, second]), migrate(y, [otherFirst])])).toEqual([2, 1]);
    const applied = (db: Db) => db.query('SELECT version, name FROM schema_migrations ORDER BY version');
    expect((await applied(x)).rows).toEqual([
      { version: 1, name: 'create_notes' },
      { version: 2, name: 'seed' },
    ]);
    expect((await applied(y)).rows).toEqual([{ version: 1, name: 'create_other' }]);
    expect(await columnsOf(x, 'notes')).toEqual(['id', 'body']);
    expect(await columnsOf(y, 'notes')).toEqual(['label']);
    expect((await x.query('SELECT id, body FROM notes')).rows).toEqual([{ id: 1, body: "it's x" }]);
    const where = await x.query(
      "SELECT schemaname AS schema FROM pg_tables WHERE tablename = 'schema_migrations' ORDER BY 1",
    );
    expect(where.rows).toEqual([{ schema: 'mig_x' }, { schema: 'mig_y' }]);

    expect(await migrate(x, [first, second])).toBe(0);
    // y's record is its own: x's second migration is pending there, x's name for 1 is refused.
    await expect(migrate(y, [first])).rejects.toThrow(
      'migration 1 of mig_y was applied as "create_other", now named "create_notes"',
    );
    expect(
      await migrate(y, [otherFirst, { ...second, sql: 'ALTER TABLE notes ADD COLUMN body text;' }]),
    ).toBe(1);
    expect(await columnsOf(y, 'notes')).toEqual(['label', 'body']);
    expect((await applied(x)).rows).toHaveLength(2);
  });

  it('closes a view only: later calls throw, other views and a new view go on', async () => {
    await a.exec("CREATE TABLE kept (k text); INSERT INTO kept VALUES ('a')");
    const doomed = await host.db('svc_a');
    expect((await doomed.query('SELECT k FROM kept')).rows).toEqual([{ k: 'a' }]);
    await doomed.close();
    await doomed.close();
    await expect(doomed.query('SELECT 1')).rejects.toThrow('Db is closed');
    await expect(doomed.exec('SELECT 1')).rejects.toThrow('Db is closed');
    await expect(doomed.transaction(async () => 1)).rejects.toThrow('Db is closed');
    expect((await a.query('SELECT k FROM kept')).rows).toEqual([{ k: 'a' }]);
    expect((await b.query('SELECT current_schema() AS s')).rows).toEqual([{ s: 'svc_b' }]);
    await expect(host.db('Bad')).rejects.toThrow(/^invalid schema name "Bad"/);
  });
});

describe('PgliteHost on a data directory', () => {
  let root: string;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'irsp-store-host-'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('locks the directory while open, persists both schemas and releases the lock at close', async () => {
    const dataDir = join(root, 'nested', 'data');
    const first = await openPgliteHost({ dataDir });
    const a = await first.db('svc_a');
    const b = await first.db('svc_b');
    expect(await migrate(a, [{ version: 1, name: 'a', sql: 'CREATE TABLE t (x integer);' }])).toBe(1);
    expect(await migrate(b, [{ version: 1, name: 'b', sql: 'CREATE TABLE t (y text);' }])).toBe(1);
    await a.query('INSERT INTO t VALUES ($1)', [7]);
    await b.query('INSERT INTO t VALUES ($1)', ['seven']);

    const inUse = `PGlite data directory ${dataDir} is in use by process ${process.pid}`;
    await expect(openPgliteHost({ dataDir })).rejects.toThrow(inUse);
    await expect(openDb({ dataDir, schema: 'svc_a' })).rejects.toThrow(inUse);
    expect(JSON.parse(await readFile(join(dataDir, 'irsp-store.lock'), 'utf8'))).toMatchObject({
      pid: process.pid,
    });
    // The refused attempts left the first host working.
    expect((await a.query('SELECT x FROM t')).rows).toEqual([{ x: 7 }]);

    await first.close();
    await first.close();
    await expect(readFile(join(dataDir, 'irsp-store.lock'))).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(a.query('SELECT 1')).rejects.toThrow('Db is closed');
    await expect(b.transaction(async () => 1)).rejects.toThrow('Db is closed');
    await expect(first.db('svc_c')).rejects.toThrow('Db is closed');

    const second = await openPgliteHost({ dataDir });
    try {
      const a2 = await second.db('svc_a');
      const b2 = await second.db('svc_b');
      expect((await a2.query('SELECT x FROM t')).rows).toEqual([{ x: 7 }]);
      expect((await b2.query('SELECT y FROM t')).rows).toEqual([{ y: 'seven' }]);
      expect(await migrate(a2, [{ version: 1, name: 'a', sql: 'CREATE TABLE t (x integer);' }])).toBe(0);
      expect((await b2.query('SELECT version, name FROM schema_migrations')).rows).toEqual([
        { version: 1, name: 'b' },
      ]);
    } finally {
      await second.close();
    }
  });
});
