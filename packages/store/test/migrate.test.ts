import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import {
  loadMigrations,
  migrate,
  openDb,
  openTestDb,
  sqlState,
  type Db,
  type Migration,
} from '../src/index.js';

const databaseUrl = process.env['DATABASE_URL'];
const onPostgres = databaseUrl !== undefined && databaseUrl !== '';

describe('loadMigrations', () => {
  let root: string;
  let n = 0;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'irsp-store-migrations-'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  async function dirWith(files: Record<string, string>): Promise<string> {
    const dir = join(root, String(n++));
    await mkdir(dir);
    for (const [name, content] of Object.entries(files)) await writeFile(join(dir, name), content);
    return dir;
  }

  it('reads NNN_name.sql sorted by number, ignoring other files', async () => {
    const dir = await dirWith({
      '010_tenth.sql': 'SELECT 10;',
      '002_second_step.sql': '\uFEFFCREATE TABLE b (x int);\n',
      '001_first.sql': 'CREATE TABLE a (x int);',
      '0100_hundredth.sql': 'SELECT 100;',
      'README.md': '# not a migration',
      '001_first.sql.bak': 'ignored',
    });
    const expected: Migration[] = [
      { version: 1, name: 'first', sql: 'CREATE TABLE a (x int);' },
      { version: 2, name: 'second_step', sql: 'CREATE TABLE b (x int);\n' },
      { version: 10, name: 'tenth', sql: 'SELECT 10;' },
      { version: 100, name: 'hundredth', sql: 'SELECT 100;' },
    ];
    expect(await loadMigrations(dir)).toEqual(expected);
    expect(await loadMigrations(pathToFileURL(`${dir}/`))).toEqual(expected);
  });

  it('returns an empty list for a directory without .sql files', async () => {
    expect(await loadMigrations(await dirWith({ 'notes.txt': 'x' }))).toEqual([]);
  });

  it.each([
    'init.sql',
    '1_init.sql',
    '01_init.sql',
    '001-init.sql',
    '001_Init.sql',
    '001_.sql',
    '001_a b.sql',
    '.001_a.sql',
    'x001_a.sql',
  ])('rejects the file name %j', async (name) => {
    const dir = await dirWith({ '001_ok.sql': 'SELECT 1;', [name]: 'SELECT 2;' });
    await expect(loadMigrations(dir)).rejects.toThrow(
      `bad migration file name ${JSON.stringify(name)} in ${dir}`,
    );
  });

  it('rejects a directory named like a migration', async () => {
    const dir = await dirWith({ '001_ok.sql': 'SELECT 1;' });
    await mkdir(join(dir, '002_dir.sql'));
    await expect(loadMigrations(dir)).rejects.toThrow('bad migration file name "002_dir.sql"');
  });

  it('rejects two files with the same number and an empty file', async () => {
    await expect(
      loadMigrations(await dirWith({ '001_a.sql': 'SELECT 1;', '001_b.sql': 'SELECT 2;' })),
    ).rejects.toThrow('duplicate migration version 1 (a, b)');
    await expect(
      loadMigrations(await dirWith({ '001_a.sql': 'SELECT 1;', '0001_b.sql': 'SELECT 2;' })),
    ).rejects.toThrow(/^duplicate migration version 1 /);
    await expect(loadMigrations(await dirWith({ '001_a.sql': ' \n' }))).rejects.toThrow(
      'migration 1_a has no SQL',
    );
  });

  it('rejects a missing directory', async () => {
    const err = await loadMigrations(join(root, 'missing')).catch((e: unknown) => e);
    expect((err as NodeJS.ErrnoException).code).toBe('ENOENT');
  });
});

const base: Migration[] = [
  {
    version: 1,
    name: 'create_notes',
    sql: 'CREATE TABLE notes (id integer PRIMARY KEY, body text NOT NULL);',
  },
  {
    version: 2,
    name: 'seed_and_function',
    // Several statements, a semicolon inside a function body, a quote in a literal.
    sql: `INSERT INTO notes VALUES (1, 'it''s first');
          CREATE FUNCTION note_count() RETURNS integer LANGUAGE sql AS $$ SELECT count(*)::int FROM notes; $$;`,
  },
];
const third: Migration = { version: 3, name: 'add_tag', sql: 'ALTER TABLE notes ADD COLUMN tag text;' };

describe('migrate', () => {
  let db: Db;

  beforeAll(async () => {
    db = await openTestDb('mig');
  });
  afterAll(async () => {
    await db?.close();
  });
  beforeEach(async () => {
    // A fresh, empty schema for every test (search_path still names it).
    await db.exec(`DROP SCHEMA ${db.schema} CASCADE; CREATE SCHEMA ${db.schema};`);
  });

  const applied = async (): Promise<Array<{ version: number; name: string }>> =>
    (
      await db.query<{ version: number; name: string }>(
        'SELECT version, name FROM schema_migrations ORDER BY version',
      )
    ).rows;

  it('applies pending migrations once, in order, and records them', async () => {
    const before = new Date(Date.now() - 60_000);
    // Given out of order: applied by version.
    expect(await migrate(db, [base[1]!, base[0]!])).toBe(2);
    expect(await applied()).toEqual([
      { version: 1, name: 'create_notes' },
      { version: 2, name: 'seed_and_function' },
    ]);
    const { rows } = await db.query<{ applied_at: Date }>('SELECT applied_at FROM schema_migrations');
    for (const row of rows) {
      expect(row.applied_at).toBeInstanceOf(Date);
      expect(row.applied_at.getTime()).toBeGreaterThan(before.getTime());
    }
    expect((await db.query('SELECT note_count() AS n, body FROM notes')).rows).toEqual([
      { n: 1, body: "it's first" },
    ]);
    // schema_migrations lives in the service's schema.
    expect(
      (await db.query('SELECT to_regclass($1) IS NOT NULL AS present', [`${db.schema}.schema_migrations`]))
        .rows,
    ).toEqual([{ present: true }]);

    expect(await migrate(db, base)).toBe(0);
    expect((await db.query('SELECT count(*)::int AS n FROM notes')).rows).toEqual([{ n: 1 }]);
    expect(await migrate(db, [...base, third])).toBe(1);
    expect((await applied()).map((m) => m.version)).toEqual([1, 2, 3]);
    expect(await migrate(db, [...base, third])).toBe(0);
    // An older release that knows only the first migrations still starts.
    expect(await migrate(db, base)).toBe(0);
    expect(await migrate(db, [])).toBe(0);
  });

  it('refuses a renamed migration before applying anything', async () => {
    expect(await migrate(db, base)).toBe(2);
    const renamed: Migration[] = [{ ...base[0]!, name: 'make_notes' }, base[1]!, third];
    await expect(migrate(db, renamed)).rejects.toThrow(
      `migration 1 of ${db.schema} was applied as "create_notes", now named "make_notes"`,
    );
    expect((await applied()).map((m) => m.version)).toEqual([1, 2]);
  });

  it('keeps the migrations of a module in a ledger of its own, numbered independently', async () => {
    expect(await migrate(db, base)).toBe(2);
    const own: Migration[] = [{ version: 1, name: 'create_locks', sql: 'CREATE TABLE locks (id int);' }];
    expect(await migrate(db, own, { ledger: 'smartlock_migrations' })).toBe(1);
    expect(await migrate(db, own, { ledger: 'smartlock_migrations' })).toBe(0);
    expect((await applied()).map((m) => m.name)).toEqual(['create_notes', 'seed_and_function']);
    const ledger = await db.query<{ version: number; name: string }>(
      'SELECT version, name FROM smartlock_migrations ORDER BY version',
    );
    expect(ledger.rows).toEqual([{ version: 1, name: 'create_locks' }]);
    await expect(migrate(db, own, { ledger: 'bad-name; DROP' })).rejects.toThrow(
      'invalid migration ledger "bad-name; DROP"',
    );
  });

  it('refuses a pending migration older than an applied one', async () => {
    expect(await migrate(db, [base[0]!, third])).toBe(2);
    await expect(migrate(db, [...base, third])).rejects.toThrow(
      `migration 2_seed_and_function is older than applied migration 3 of ${db.schema}`,
    );
    expect((await applied()).map((m) => m.version)).toEqual([1, 3]);
  });

  it('rolls back a failing migration completely and stops there', async () => {
    const broken: Migration = {
      version: 2,
      name: 'seed_and_function',
      sql: "CREATE TABLE half (x int); INSERT INTO notes VALUES (7, 'x'); SELECT * FROM no_such_table;",
    };
    const err = await migrate(db, [base[0]!, broken, third]).catch((e: unknown) => e);
    expect(sqlState(err)).toBe('42P01');
    expect((await applied()).map((m) => m.version)).toEqual([1]);
    expect((await db.query("SELECT to_regclass('half') IS NULL AS absent")).rows).toEqual([{ absent: true }]);
    expect((await db.query('SELECT count(*)::int AS n FROM notes')).rows).toEqual([{ n: 0 }]);
    // Fixed, the same run continues from where it stopped.
    expect(await migrate(db, [...base, third])).toBe(2);
    expect((await applied()).map((m) => m.version)).toEqual([1, 2, 3]);
  });

  it('rejects bad migration lists without touching the database', async () => {
    await expect(migrate(db, [base[0]!, { ...base[1]!, version: 1 }])).rejects.toThrow(
      'duplicate migration version 1 (create_notes, seed_and_function)',
    );
    await expect(migrate(db, [{ ...base[0]!, version: 0 }])).rejects.toThrow('invalid migration version 0');
    await expect(migrate(db, [{ ...base[0]!, version: 1.5 }])).rejects.toThrow(
      'invalid migration version 1.5',
    );
    await expect(migrate(db, [{ ...base[0]!, version: 2 ** 31 }])).rejects.toThrow(
      'invalid migration version 2147483648',
    );
    await expect(migrate(db, [{ ...base[0]!, name: '' }])).rejects.toThrow('migration 1 has no name');
    await expect(migrate(db, [{ ...base[0]!, sql: '  ' }])).rejects.toThrow(
      'migration 1_create_notes has no SQL',
    );
    expect((await db.query("SELECT to_regclass('schema_migrations') IS NULL AS absent")).rows).toEqual([
      { absent: true },
    ]);
  });

  it('applies each migration once when two migrate() calls on one Db race', async () => {
    const results = await Promise.all([migrate(db, [...base, third]), migrate(db, [...base, third])]);
    expect(results[0]! + results[1]!).toBe(3);
    expect((await applied()).map((m) => m.version)).toEqual([1, 2, 3]);
    expect((await db.query('SELECT count(*)::int AS n FROM notes')).rows).toEqual([{ n: 1 }]);
  });

  it.skipIf(!onPostgres)(
    'applies each migration once when two Dbs (two pools) on one schema race',
    async () => {
      // The first migration sleeps inside its transaction, so without the advisory lock the second
      // instance would also find it pending and fail on CREATE TABLE notes (or insert a second note).
      const slow: Migration[] = [
        { ...base[0]!, sql: `${base[0]!.sql} SELECT pg_sleep(0.3);` },
        base[1]!,
        third,
      ];
      const others = await Promise.all(
        [1, 2, 3].map(() => openDb({ url: databaseUrl!, schema: db.schema, poolMax: 2 })),
      );
      try {
        const results = await Promise.all([db, ...others].map((d) => migrate(d, slow)));
        expect(results.reduce((a, b) => a + b, 0)).toBe(3);
        expect((await applied()).map((m) => m.version)).toEqual([1, 2, 3]);
        expect((await db.query('SELECT count(*)::int AS n FROM notes')).rows).toEqual([{ n: 1 }]);
      } finally {
        await Promise.all(others.map((d) => d.close()));
      }
    },
  );
});
