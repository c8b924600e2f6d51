import { execFile } from 'node:child_process';
import { access, mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

import { PGlite, types } from '@electric-sql/pglite';

import { lockDataDir } from './lockfile.js';
import { PgliteSession } from './pglite-session.js';
import { quoteSchema } from './schema.js';
import { TxScope, closedError } from './scope.js';
import type { Db, DbOptions, Executor, QueryResult } from './types.js';

type Parser = (value: string) => unknown;

/** Parsers that make PGlite return what the pg pool returns (see index.ts). */
function parsers(): Record<number, Parser> {
  const asText = (value: string): string => value;
  const defaultBytea = types.parsers[types.BYTEA] as (value: string, typeId: number) => Uint8Array;
  return {
    // Array types (int8[], date[]) use these element parsers too.
    [types.INT8]: asText,
    [types.DATE]: asText,
    [types.INTERVAL]: asText,
    [types.BYTEA]: (value) => {
      const bytes = defaultBytea(value, types.BYTEA);
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    },
  };
}

/** A PGlite instance with this package's parsers, and the data-directory lock it holds. */
export interface PgliteInstance {
  readonly pglite: PGlite;
  /** Closes the instance, then releases the data-directory lock (also when closing fails). Not idempotent. */
  close(): Promise<void>;
}

/**
 * Creates a PGlite instance on `dataDir` (created if missing; absent → in memory) with the parsers above.
 * Two PGlite instances on one directory both open it and silently diverge, so the directory is locked
 * (lockfile.ts) for the life of the instance: a second instance on it, in this process or another, is
 * refused. Every PGlite Db and PgliteHost of the package is made here.
 */
export async function createPglite(dataDir: string | undefined): Promise<PgliteInstance> {
  const dir = dataDir === undefined ? undefined : resolve(dataDir);
  let unlock: (() => Promise<void>) | undefined;
  if (dir !== undefined) {
    await mkdir(dir, { recursive: true });
    unlock = await lockDataDir(dir);
  }
  let pglite: PGlite;
  try {
    if (dir !== undefined) await initialised(dir);
    pglite = await PGlite.create({ dataDir: dir, parsers: parsers() });
  } catch (err) {
    await unlock?.();
    throw err;
  }
  return {
    pglite,
    async close() {
      try {
        await pglite.close();
      } finally {
        await unlock?.();
      }
    },
  };
}

/**
 * A new data directory is made by a child process: initdb grows PGlite's WebAssembly memory to ≈ 800 MB RSS, which
 * a WebAssembly memory never gives back, so done in this process it would stay for the process's life (measured:
 * `pnpm start` on a new directory 817 MB idle, on an existing one 382 MB). The caller holds the directory's lock.
 */
async function initialised(dir: string): Promise<void> {
  try {
    await access(join(dir, 'PG_VERSION'));
    return;
  } catch {
    // Not made yet.
  }
  const pgliteModule = createRequire(import.meta.url).resolve('@electric-sql/pglite');
  await promisify(execFile)(process.execPath, [
    '-e',
    'require(process.argv[1]).PGlite.create({ dataDir: process.argv[2] }).then((pglite) => pglite.close())',
    pgliteModule,
    dir,
  ]);
}

export async function openPglite(opts: DbOptions): Promise<Db> {
  const quoted = quoteSchema(opts.schema);
  const schema = opts.schema;
  const instance = await createPglite(opts.dataDir);
  const { pglite } = instance;
  try {
    // PGlite is one session for its whole life, so one SET covers every later statement.
    await pglite.exec(`CREATE SCHEMA IF NOT EXISTS ${quoted}; SET search_path TO ${quoted}`);
  } catch (err) {
    await instance.close().catch(() => undefined);
    throw err;
  }

  const session = new PgliteSession(pglite, false);
  const scope = new TxScope();
  let closing: Promise<void> | undefined;
  const assertUsable = (method: string): void => {
    if (closing) throw closedError();
    scope.assertOutside(method);
  };

  return {
    kind: 'pglite',
    schema,

    // One call at a time in call order (PgliteSession): a query issued while a transaction runs waits for its end.
    async query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<QueryResult<T>> {
      assertUsable('query');
      return session.query<T>(schema, sql, params);
    },

    async exec(sql: string): Promise<void> {
      assertUsable('exec');
      await session.exec(schema, sql);
    },

    async transaction<T>(fn: (tx: Executor) => Promise<T>): Promise<T> {
      assertUsable('transaction');
      return scope.run(() => session.transaction(schema, fn));
    },

    close(): Promise<void> {
      // Queued behind the calls already made; later calls throw 'Db is closed'.
      closing ??= session.serial(async () => {
        try {
          if (opts.dropSchemaOnClose === true) await pglite.exec(`DROP SCHEMA IF EXISTS ${quoted} CASCADE`);
        } finally {
          await instance.close();
        }
      });
      return closing;
    },
  };
}
