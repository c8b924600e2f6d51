import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { openDb, openTestDb, type Db } from '../src/index.js';

const databaseUrl = process.env['DATABASE_URL'];
const onPostgres = databaseUrl !== undefined && databaseUrl !== '';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// Connection-level behaviour that only a pool has; PGlite has one in-process session.
describe.skipIf(!onPostgres)('PostgreSQL pool', () => {
  let admin: Db;

  beforeAll(async () => {
    admin = await openTestDb('admin');
  });
  afterAll(async () => {
    await admin.close();
  });

  const terminate = async (pid: number): Promise<void> => {
    const { rows } = await admin.query<{ ok: boolean }>('SELECT pg_terminate_backend($1) AS ok', [pid]);
    expect(rows).toEqual([{ ok: true }]);
  };

  it('survives an idle connection being killed, reports it to onError, and reconnects', async () => {
    const errors: Error[] = [];
    const db = await openDb({
      url: databaseUrl!,
      schema: `${admin.schema}_idle`,
      dropSchemaOnClose: true,
      onError: (err) => errors.push(err),
    });
    try {
      const { rows } = await db.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      await terminate(rows[0]!.pid);
      for (let i = 0; i < 50 && errors.length === 0; i++) await sleep(20);
      expect(errors.length).toBe(1);
      expect(errors[0]).toBeInstanceOf(Error);
      const after = await db.query<{ pid: number; schema: string }>(
        'SELECT pg_backend_pid() AS pid, current_schema() AS schema',
      );
      expect(after.rows[0]!.pid).not.toBe(rows[0]!.pid);
      expect(after.rows[0]!.schema).toBe(db.schema);
    } finally {
      await db.close();
    }
  });

  it('fails the transaction, not the process, when its connection dies between statements', async () => {
    const db = await openDb({
      url: databaseUrl!,
      schema: `${admin.schema}_tx`,
      dropSchemaOnClose: true,
      poolMax: 1,
    });
    try {
      await db.exec('CREATE TABLE t (x int)');
      const err = await db
        .transaction(async (tx) => {
          await tx.query('INSERT INTO t VALUES (1)');
          const { rows } = await tx.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
          await terminate(rows[0]!.pid);
          await sleep(100);
          await tx.query('INSERT INTO t VALUES (2)');
        })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Error);
      // The pool (of one) drops the dead connection rather than handing it out again.
      expect((await db.query('SELECT count(*)::int AS n FROM t')).rows).toEqual([{ n: 0 }]);
    } finally {
      await db.close();
    }
  });

  it('keeps a connection after an error the server answered, and drops one that died during a statement', async () => {
    const db = await openDb({
      url: databaseUrl!,
      schema: `${admin.schema}_kept`,
      dropSchemaOnClose: true,
      poolMax: 1,
    });
    const pid = async (): Promise<number> =>
      (await db.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
    try {
      await db.exec('CREATE TABLE t (x int PRIMARY KEY)');
      await db.query('INSERT INTO t VALUES (1)');
      const first = await pid();
      // A unique violation, as a duplicate registration gives, and a syntax error: both answered by the server.
      await expect(db.query('INSERT INTO t VALUES (1)')).rejects.toMatchObject({ code: '23505' });
      await expect(db.query('SELEKT 1')).rejects.toMatchObject({ code: '42601' });
      expect(await pid()).toBe(first);

      const sleeping = db.query('SELECT pg_sleep(5)').catch((e: unknown) => e);
      for (let i = 0; i < 100; i++) {
        const { rows } = await admin.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = $1 AND query = 'SELECT pg_sleep(5)'",
          [first],
        );
        if (rows[0]!.n === 1) break;
        await sleep(20);
      }
      await terminate(first);
      expect(await sleeping).toMatchObject({ code: '57P01' });
      const second = await pid();
      expect(second).not.toBe(first);
      expect((await db.query('SELECT count(*)::int AS n FROM t')).rows).toEqual([{ n: 1 }]);
    } finally {
      await db.close();
    }
  });

  it('lets several instances create the same schema at once', async () => {
    const schema = `${admin.schema}_race`;
    const dbs = await Promise.all(
      Array.from({ length: 4 }, () => openDb({ url: databaseUrl!, schema, poolMax: 1 })),
    );
    try {
      const { rows } = await admin.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = $1',
        [schema],
      );
      expect(rows).toEqual([{ n: 1 }]);
    } finally {
      await Promise.all(dbs.map((d) => d.close()));
      await admin.exec(`DROP SCHEMA ${schema} CASCADE`);
    }
  });

  it('refuses a URL whose options= would replace search_path', async () => {
    const url = `${databaseUrl!}${databaseUrl!.includes('?') ? '&' : '?'}options=${encodeURIComponent('-c statement_timeout=5000')}`;
    await expect(openDb({ url, schema: `${admin.schema}_opt` })).rejects.toThrow(
      `search_path is "\\"$user\\", public", expected ${admin.schema}_opt: remove options= from the database URL`,
    );
  });

  it('fails fast on an unreachable server', async () => {
    const err = await openDb({ url: 'postgres://postgres@127.0.0.1:1/none', schema: 'x' }).catch(
      (e: unknown) => e,
    );
    expect((err as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
  });

  it('prepares each statement once per connection, recovers from failing ones, and stops naming at 500 texts', async () => {
    const db = await openDb({
      url: databaseUrl!,
      schema: `${admin.schema}_prep`,
      poolMax: 1,
      dropSchemaOnClose: true,
    });
    const prepared = () =>
      db.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_prepared_statements WHERE statement = $1', [
        'INSERT INTO t (id, v) VALUES ($1, $2) RETURNING id, v',
      ]);
    try {
      await db.exec('CREATE TABLE t (id int PRIMARY KEY, v text NOT NULL)');
      const insert = 'INSERT INTO t (id, v) VALUES ($1, $2) RETURNING id, v';
      expect((await db.query(insert, [1, 'a'])).rows).toEqual([{ id: 1, v: 'a' }]);
      expect((await db.query(insert, [2, 'b'])).rows).toEqual([{ id: 2, v: 'b' }]);
      expect((await prepared()).rows).toEqual([{ n: 1 }]);
      // Failing at execution, then at parse: each run reports its own error, never a missing prepared statement
      // (26000), and the statements run again afterwards.
      for (let i = 0; i < 2; i++) {
        expect(await db.query(insert, [1, 'c']).catch((e: { code: string }) => e.code)).toBe('23505');
        expect(
          await db.query('SELECT v FROM missing WHERE id = $1', [1]).catch((e: { code: string }) => e.code),
        ).toBe('42P01');
      }
      expect((await db.query(insert, [3, 'c'])).rows).toEqual([{ id: 3, v: 'c' }]);
      expect((await db.query(insert, [4, 'd'])).rows).toEqual([{ id: 4, v: 'd' }]);
      expect((await prepared()).rows).toEqual([{ n: 1 }]);

      for (let i = 0; i < 520; i++) {
        expect((await db.query(`SELECT $1::int + ${i} AS n`, [1])).rows).toEqual([{ n: i + 1 }]);
      }
      // The first texts got names; past the bound they run unnamed (and still answer).
      const named = async (sql: string) =>
        (
          await db.query<{ n: number }>(
            'SELECT count(*)::int AS n FROM pg_prepared_statements WHERE statement = $1',
            [sql],
          )
        ).rows[0]!.n;
      expect(await named('SELECT $1::int + 0 AS n')).toBe(1);
      expect(await named('SELECT $1::int + 519 AS n')).toBe(0);
      expect((await db.query('SELECT $1::int + 519 AS n', [1])).rows).toEqual([{ n: 520 }]);
    } finally {
      await db.close();
    }
  });

  it('runs a prepared statement whose table changed shape again unnamed (inside a transaction: fails once)', async () => {
    const db = await openDb({
      url: databaseUrl!,
      schema: `${admin.schema}_stale`,
      poolMax: 1,
      dropSchemaOnClose: true,
    });
    try {
      await db.exec(
        'CREATE TABLE t (id int); INSERT INTO t VALUES (1); CREATE TABLE u (id int); INSERT INTO u VALUES (2)',
      );
      expect((await db.query('SELECT * FROM t')).rows).toEqual([{ id: 1 }]);
      expect((await db.query('SELECT * FROM u')).rows).toEqual([{ id: 2 }]);

      await db.exec("ALTER TABLE u ADD COLUMN v text DEFAULT 'y'");
      const inside = await db
        .transaction((tx) => tx.query('SELECT * FROM u'))
        .catch((e: { code: string }) => e.code);
      expect(inside).toBe('0A000');
      expect(await db.transaction(async (tx) => (await tx.query('SELECT * FROM u')).rows)).toEqual([
        { id: 2, v: 'y' },
      ]);

      await db.exec("ALTER TABLE t ADD COLUMN v text DEFAULT 'x'");
      expect((await db.query('SELECT * FROM t')).rows).toEqual([{ id: 1, v: 'x' }]);
      expect((await db.query('SELECT * FROM t')).rows).toEqual([{ id: 1, v: 'x' }]);
    } finally {
      await db.close();
    }
  });
});
