import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { quoteSchema } from './schema.js';
import type { Db, Executor } from './types.js';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** NNN_name.sql: at least three digits, an underscore, a lower-case name of letters, digits and underscores. */
const FILE_NAME = /^(\d{3,})_([a-z0-9][a-z0-9_]*)\.sql$/;
const MAX_VERSION = 2_147_483_647; // schema_migrations.version is an integer

/** Returns the migrations sorted by version, or throws on a bad version, name, SQL or a duplicate version. */
function checked(migrations: readonly Migration[]): Migration[] {
  const sorted = [...migrations].sort((a, b) => a.version - b.version);
  sorted.forEach((m, i) => {
    if (!Number.isInteger(m.version) || m.version < 1 || m.version > MAX_VERSION) {
      throw new TypeError(`invalid migration version ${String(m.version)}`);
    }
    if (typeof m.name !== 'string' || m.name === '')
      throw new TypeError(`migration ${m.version} has no name`);
    if (typeof m.sql !== 'string' || m.sql.trim() === '') {
      throw new TypeError(`migration ${m.version}_${m.name} has no SQL`);
    }
    const previous = sorted[i - 1];
    if (previous?.version === m.version) {
      throw new TypeError(`duplicate migration version ${m.version} (${previous.name}, ${m.name})`);
    }
  });
  return sorted;
}

/**
 * Reads NNN_name.sql files (sorted by NNN) from a directory URL or path. Files not ending in .sql are
 * ignored; a .sql file with any other name, or two files with the same number, is an error. A leading
 * UTF-8 BOM is dropped. Typical use: `loadMigrations(new URL('../migrations/', import.meta.url))`, which
 * resolves the same from src/ and dist/.
 */
export async function loadMigrations(dir: URL | string): Promise<Migration[]> {
  const path = dir instanceof URL ? fileURLToPath(dir) : dir;
  const entries = await readdir(path, { withFileTypes: true });
  const migrations: Migration[] = [];
  for (const entry of entries) {
    if (!entry.name.endsWith('.sql')) continue;
    const match = FILE_NAME.exec(entry.name);
    if (match === null || !entry.isFile()) {
      throw new Error(
        `bad migration file name ${JSON.stringify(entry.name)} in ${path}: expected NNN_name.sql`,
      );
    }
    const sql = await readFile(join(path, entry.name), 'utf8');
    migrations.push({ version: Number(match[1]), name: match[2] ?? '', sql: sql.replace(/^\uFEFF/, '') });
  }
  return checked(migrations);
}

/** A ledger is a table of the schema: a plain lower-case identifier. */
const LEDGER = /^[a-z_][a-z0-9_]{0,62}$/;

interface AppliedRow {
  version: number;
  name: string;
}

/**
 * Applies pending migrations in order, each in its own transaction together with its row in
 * <schema>.schema_migrations(version, name, applied_at). Every transaction first takes
 * pg_advisory_xact_lock(hashtext('irsp_migrate:<schema>')), so instances starting at once apply each
 * migration once (PGlite has the same function; with one connection it never waits). Throws, before
 * applying anything, when an applied migration's name differs from the given one, or when a pending
 * migration is older than one already applied. Applied versions the caller does not know (a newer
 * release already ran) are accepted. A migration must not contain BEGIN/COMMIT or statements that cannot
 * run in a transaction (CREATE INDEX CONCURRENTLY). Returns how many migrations this call applied.
 *
 * `ledger` names the table that records them (default `schema_migrations`): a module with migrations of its own (an
 * application on the application server) keeps its own ledger in the same schema, numbered independently. All
 * ledgers of a schema share its lock.
 */
export async function migrate(
  db: Db,
  migrations: Migration[],
  options: { ledger?: string } = {},
): Promise<number> {
  const wanted = checked(migrations);
  const ledger = options.ledger ?? 'schema_migrations';
  if (!LEDGER.test(ledger)) throw new TypeError(`invalid migration ledger ${JSON.stringify(ledger)}`);
  const table = `${quoteSchema(db.schema)}.${ledger}`;
  const lockKey = `irsp_migrate:${db.schema}`;

  const lock = async (tx: Executor): Promise<void> => {
    await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [lockKey]);
  };
  /** Reads the applied migrations and checks them against `wanted`. */
  const readApplied = async (tx: Executor): Promise<AppliedRow[]> => {
    const { rows } = await tx.query<AppliedRow>(`SELECT version, name FROM ${table} ORDER BY version`);
    const byVersion = new Map(rows.map((r) => [r.version, r.name]));
    const latest = rows.at(-1)?.version ?? 0;
    for (const m of wanted) {
      const appliedName = byVersion.get(m.version);
      if (appliedName === undefined) {
        if (m.version < latest) {
          throw new Error(
            `migration ${m.version}_${m.name} is older than applied migration ${latest} of ${db.schema}`,
          );
        }
      } else if (appliedName !== m.name) {
        throw new Error(
          `migration ${m.version} of ${db.schema} was applied as ${JSON.stringify(appliedName)}, now named ${JSON.stringify(m.name)}`,
        );
      }
    }
    return rows;
  };

  const pending = await db.transaction(async (tx) => {
    await lock(tx);
    await tx.query(
      `CREATE TABLE IF NOT EXISTS ${table} (
        version integer PRIMARY KEY,
        name text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`,
    );
    const applied = new Set((await readApplied(tx)).map((r) => r.version));
    return wanted.filter((m) => !applied.has(m.version));
  });

  let count = 0;
  for (const m of pending) {
    const applied = await db.transaction(async (tx) => {
      await lock(tx);
      // Another instance may have applied it while this one waited for the lock.
      if ((await readApplied(tx)).some((r) => r.version === m.version)) return false;
      await tx.exec(m.sql);
      await tx.query(`INSERT INTO ${table} (version, name) VALUES ($1, $2)`, [m.version, m.name]);
      return true;
    });
    if (applied) count++;
  }
  return count;
}
