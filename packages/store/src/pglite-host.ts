import { createPglite } from './pglite.js';
import { PgliteSession } from './pglite-session.js';
import { quoteSchema } from './schema.js';
import { TxScope, closedError } from './scope.js';
import type { Db, Executor, QueryResult } from './types.js';

/** One PGlite instance serving several services, each through a Db view on its own schema. */
export interface PgliteHost {
  /**
   * A Db on this one PGlite instance whose every statement runs with search_path = schema (created if
   * missing). Several views may name the same schema (message servers of one AS sharing their state).
   */
  db(schema: string): Promise<Db>;
  /** Closes the instance (and releases the data-dir lock); views must not be used afterwards. Idempotent. */
  close(): Promise<void>;
}

export interface PgliteHostOptions {
  /** Data directory (created if missing; locked while the host is open); absent → in memory. */
  dataDir?: string;
}

/**
 * Opens one PGlite instance for several services of a process, each keeping its own schema: `host.db(schema)`
 * gives a Db view that behaves like `openDb({ schema, dataDir })` (same parsers, values, errors, rowCount,
 * transaction guard and 25P02, `migrate` works on it) without paying for an instance per service.
 *
 * PGlite is one session, so search_path cannot be set once per view. Each statement of a view (`query`) is one
 * buffer whose first step is `SELECT pg_catalog.set_config('search_path', <schema>, true)`: local to the implicit
 * transaction that the buffer's Sync ends, so the statement runs in the view's schema and nothing after it does
 * (PgliteSession). `transaction(fn)` starts with BEGIN and the same set_config, and `exec` runs its script in
 * such a transaction. Prepared statements are cached per schema and text, so a text prepared for one view never
 * runs on another view's tables. All calls of all views run one at a time in call order, so statements of
 * different views never interleave inside another view's transaction: interleaved async use by several services
 * is safe, and a view's open transaction makes every other view wait for its end. The session's own search_path
 * is empty, so a statement that escaped its transaction (a script with its own COMMIT) fails (3F000 / 42P01)
 * instead of running in another service's schema.
 *
 * Differences from a Db of its own:
 * - a statement that cannot run in a transaction block (VACUUM, CREATE DATABASE, … CONCURRENTLY) fails
 *   with 25001; scripts given to `exec` must not contain BEGIN/COMMIT (as migrations already must not);
 * - a view's transaction blocks every service of the host, not only its own: keep transactions short and
 *   never wait inside one for another service of the process (an HTTP call to a service on the same host
 *   would wait forever; a direct call on another view from inside fn throws, like a call on the Db itself);
 * - `close()` of a view only marks it closed (later calls throw 'Db is closed'); closing the host closes
 *   the instance for every view. There is no dropSchemaOnClose.
 *
 * Cost (Node 20, x86_64, 2 cores, PGlite 0.5.16; one process per run; five schemas as in `pnpm start`,
 * each migrated with a 2-migration set):
 * - fresh data directory: host + 5 views + migrations 2.9–3.7 s (2.85–3.55 s of it opening the instance,
 *   initdb and WASM compilation included), RSS 740–770 MB (peak 0.83–0.91 GB), 39 MB on disk; five
 *   openDb instances on five directories: 10.6–11.7 s, RSS 1.42–1.45 GB (peak 1.50–1.52 GB), 192 MB;
 * - existing data directory: 0.89–0.91 s and 330 MB, against 2.6–2.9 s and 0.96–1.0 GB.
 * - per statement (CPU, after warm-up, data directory): `SELECT $1` 5 000 times in a loop, 50–70 µs on a view
 *   against 40–50 µs on an openDb PGlite (45–90 and 30–40 µs with 5 000 at once in Promise.all; before the
 *   one-buffer path 340–380 and 175–190 µs); an INSERT … RETURNING with a jsonb parameter 170–185 µs (155–165),
 *   an UPDATE … WHERE id = ANY($1::bigint[]) RETURNING of 10 rows 225–265 µs (215–300); a transaction(fn) of two
 *   statements 185–190 µs on a view against 145 µs (0.55–0.6 ms before).
 */
export async function openPgliteHost(opts: PgliteHostOptions = {}): Promise<PgliteHost> {
  const instance = await createPglite(opts.dataDir);
  const { pglite } = instance;
  try {
    await pglite.exec("SELECT pg_catalog.set_config('search_path', '', false)");
  } catch (err) {
    await instance.close().catch(() => undefined);
    throw err;
  }

  const session = new PgliteSession(pglite, true);
  // One scope for all views: inside a view's transaction, any call on any view would wait forever.
  const scope = new TxScope();
  let closing: Promise<void> | undefined;

  return {
    async db(schema: string): Promise<Db> {
      const quoted = quoteSchema(schema);
      if (closing) throw closedError();
      scope.assertOutside('PgliteHost.db');
      await session.serial(() => pglite.exec(`CREATE SCHEMA IF NOT EXISTS ${quoted}`));

      let closed = false;
      const assertUsable = (method: string): void => {
        if (closed || closing) throw closedError();
        scope.assertOutside(method);
      };

      return {
        kind: 'pglite',
        schema,

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
          closed = true;
          return Promise.resolve();
        },
      };
    },

    close(): Promise<void> {
      // Queued behind the calls already made (a transaction runs to its end); later calls throw 'Db is closed'.
      closing ??= session.serial(() => instance.close());
      return closing;
    },
  };
}
