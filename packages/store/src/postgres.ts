import pg from 'pg';

import { sqlState } from './errors.js';
import { quoteSchema } from './schema.js';
import { TxScope, closedError } from './scope.js';
import type { Db, DbOptions, Executor, QueryResult } from './types.js';

// Type OIDs whose parsing is pinned so that both drivers return the same values (see index.ts).
const INT8 = 20;
const INT8_ARRAY = 1016;
const TEXT_ARRAY = 1009;
const DATE = 1082;
const DATE_ARRAY = 1182;
const INTERVAL = 1186;
const INTERVAL_ARRAY = 1187;

/** Per-pool parsers (the global pg.types registry is neither changed nor relied on for these types). */
function typeOverrides(): pg.TypeOverrides {
  const types = new pg.TypeOverrides();
  const asText = (value: string): string => value;
  // @types/pg's TypeId enum lists no array types, hence the cast.
  const getTypeParser = pg.types.getTypeParser as (oid: number, format: 'text') => (value: string) => unknown;
  const textArray = getTypeParser(TEXT_ARRAY, 'text');
  for (const oid of [INT8, DATE, INTERVAL]) types.setTypeParser(oid, asText);
  for (const oid of [INT8_ARRAY, DATE_ARRAY, INTERVAL_ARRAY]) types.setTypeParser(oid, textArray);
  return types;
}

function abortedCommitError(): Error {
  // Same message, code and severity as PGlite's TransactionAbortedError.
  return Object.assign(new Error('Transaction was rolled back instead of committed'), {
    code: '25P02',
    severity: 'ERROR',
  });
}

/** Distinct statement texts a Db prepares; later ones run unnamed, so generated SQL cannot grow every backend. */
const MAX_PREPARED = 500;

/**
 * Names under which a Db's statements are prepared: each connection of the pool parses and plans a named statement
 * once (pg keeps track per connection), so a backend stops re-parsing and, once PostgreSQL settles on a generic
 * plan, re-planning the same few statements. A pooler in front must keep prepared statements per server connection
 * (PgBouncer in transaction mode: 1.21 or later with max_prepared_statements set).
 */
class StatementNames {
  /** null: the text went stale once (below) and runs unnamed from then on. */
  private readonly names = new Map<string, string | null>();

  of(sql: string): string | undefined {
    let name = this.names.get(sql);
    if (name === undefined && this.names.size < MAX_PREPARED) {
      name = `irsp_${this.names.size}`;
      this.names.set(sql, name);
    }
    return name ?? undefined;
  }

  forget(sql: string): void {
    this.names.set(sql, null);
  }
}

/**
 * A prepared statement that can no longer run: its table changed shape under it (a migration of another instance
 * while this one runs: "cached plan must not change result type"), or the server dropped it (a pooler's DISCARD).
 */
function isStale(err: unknown): boolean {
  const { code, routine } = err as { code?: unknown; routine?: unknown };
  return code === '26000' || (code === '0A000' && routine === 'RevalidateCachedQuery');
}

/**
 * Runs one statement with the extended protocol, as PGlite does (one statement per query, always); inTransaction
 * says whether the client is inside a transaction of ours.
 */
async function runQuery<T>(
  client: pg.PoolClient,
  inTransaction: boolean,
  names: StatementNames,
  sql: string,
  params: unknown[] | undefined,
): Promise<QueryResult<T>> {
  const name = names.of(sql);
  // queryMode is supported by pg ≥ 8.12 but missing from @types/pg.
  const config = { name, text: sql, values: params, queryMode: 'extended' } as pg.QueryConfig;
  let res;
  try {
    res = await client.query(config);
  } catch (err) {
    if (name === undefined || !isStale(err)) throw err;
    // Stale: the text runs unnamed from now on. Outside a transaction nothing ran, so it runs again; inside one
    // the transaction is aborted and fails, as on PGlite.
    names.forget(sql);
    if (inTransaction) throw err;
    res = await client.query({ ...config, name: undefined } as pg.QueryConfig);
  }
  return { rows: res.rows as T[], rowCount: res.rowCount ?? 0 };
}

/**
 * Whether the connection is still usable after a statement failed with err: the server answered an ERROR and
 * is ready for the next statement. A FATAL answer (the backend terminated, an idle-in-transaction or idle-session
 * timeout) ends the connection, but pg may not have seen the socket close yet when the statement rejects. The
 * severity pg reports is localised, so the SQLSTATEs of those answers are checked as well.
 */
function connectionSurvives(err: unknown): boolean {
  if (!(err instanceof pg.DatabaseError)) return false;
  const code = err.code ?? '';
  if (err.severity === 'FATAL' || err.severity === 'PANIC') return false;
  return !(code.startsWith('08') || code.startsWith('57P') || code.startsWith('XX') || code === '25P03');
}

/**
 * Runs fn on a connection of the pool. pool.query() releases its connection with the statement's error, and
 * pg-pool closes a connection released with an error: a duplicate registration (unique violation) would cost a
 * new connection and its prepared statements. An error the server answered leaves the connection ready for the
 * next statement, so only a connection that failed otherwise is closed.
 */
async function onConnection<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  // A checked-out client has no pool listener: without ours, a connection lost during the statement would emit
  // an unhandled 'error' and crash the process.
  let broken: Error | undefined;
  const onError = (err: Error): void => {
    broken = err;
  };
  client.on('error', onError);
  try {
    return await fn(client);
  } catch (err) {
    if (!connectionSurvives(err)) broken ??= err as Error;
    throw err;
  } finally {
    client.off('error', onError);
    client.release(broken);
  }
}

export async function openPostgres(opts: DbOptions & { url: string }): Promise<Db> {
  const quoted = quoteSchema(opts.schema);
  const schema = opts.schema;
  const poolMax = opts.poolMax ?? 10;
  if (!Number.isInteger(poolMax) || poolMax < 1)
    throw new TypeError(`invalid poolMax ${String(opts.poolMax)}`);

  const pool = new pg.Pool({
    connectionString: opts.url,
    max: poolMax,
    // The schema name is validated (quoteSchema), so it needs no escaping in the startup options. Set
    // here, search_path holds from the first statement of every connection and survives RESET/DISCARD.
    options: `-c search_path=${schema}`,
    application_name: `irsp_${schema}`.slice(0, 63),
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: opts.idleTimeoutMs ?? 10_000,
    types: typeOverrides(),
  });
  pool.on('error', (err) => opts.onError?.(err));

  const names = new StatementNames();
  try {
    // A postgres URL with its own ?options=… replaces the startup options above; refuse rather than
    // run in the wrong schema.
    const shown = await onConnection(pool, (client) =>
      runQuery<{ search_path: string }>(
        client,
        false,
        names,
        "SELECT current_setting('search_path') AS search_path",
        [],
      ),
    );
    if (shown.rows[0]?.search_path !== schema) {
      throw new Error(
        `search_path is ${JSON.stringify(shown.rows[0]?.search_path)}, expected ${schema}: remove options= from the database URL`,
      );
    }
    // Checking first avoids needing CREATE on the database when the schema exists, and the race of two
    // concurrent CREATE SCHEMA IF NOT EXISTS (which can fail with 23505) is tolerated below.
    const exists = await onConnection(pool, (client) =>
      runQuery(client, false, names, 'SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]),
    );
    if (exists.rowCount === 0) {
      try {
        await onConnection(pool, (client) => client.query(`CREATE SCHEMA IF NOT EXISTS ${quoted}`));
      } catch (err) {
        if (sqlState(err) !== '23505' && sqlState(err) !== '42P06') throw err;
      }
    }
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw err;
  }

  const scope = new TxScope();
  let closing: Promise<void> | undefined;
  const assertUsable = (method: string): void => {
    if (closing) throw closedError();
    scope.assertOutside(method);
  };

  return {
    kind: 'postgres',
    schema,

    async query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<QueryResult<T>> {
      assertUsable('query');
      return onConnection(pool, (client) => runQuery<T>(client, false, names, sql, params));
    },

    async exec(sql: string): Promise<void> {
      assertUsable('exec');
      await onConnection(pool, (client) => client.query(sql));
    },

    async transaction<T>(fn: (tx: Executor) => Promise<T>): Promise<T> {
      assertUsable('transaction');
      return scope.run(async () => {
        const client = await pool.connect();
        // A checked-out client has no pool listener: without ours, a connection lost between two
        // statements would emit an unhandled 'error' and crash the process.
        let broken: Error | undefined;
        const onError = (err: Error): void => {
          broken = err;
        };
        client.on('error', onError);
        let finished = false;
        const assertOpen = (): void => {
          if (finished) throw new Error('transaction is finished');
        };
        const hooks: (() => Promise<void>)[] = [];
        const tx: Executor = {
          kind: 'postgres',
          beforeCommit(hook: () => Promise<void>): void {
            assertOpen();
            hooks.push(hook);
          },
          async query<R = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<QueryResult<R>> {
            assertOpen();
            return runQuery<R>(client, true, names, sql, params);
          },
          async exec(sql: string): Promise<void> {
            assertOpen();
            await client.query(sql);
          },
        };
        try {
          await client.query('BEGIN');
          const result = await fn(tx);
          for (const hook of hooks) await hook();
          finished = true;
          const commit = await client.query('COMMIT');
          // COMMIT of a transaction aborted by an error that fn caught answers ROLLBACK, not an error.
          if (commit.command === 'ROLLBACK') throw abortedCommitError();
          return result;
        } catch (err) {
          finished = true;
          try {
            await client.query('ROLLBACK');
          } catch (rollbackErr) {
            broken ??= rollbackErr as Error;
          }
          throw err;
        } finally {
          client.off('error', onError);
          // Passing an error destroys the connection instead of returning it to the pool.
          client.release(broken);
        }
      });
    },

    close(): Promise<void> {
      closing ??= (async () => {
        try {
          if (opts.dropSchemaOnClose === true) await pool.query(`DROP SCHEMA IF EXISTS ${quoted} CASCADE`);
        } finally {
          await pool.end();
        }
      })();
      return closing;
    },
  };
}
