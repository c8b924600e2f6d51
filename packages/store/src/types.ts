export interface QueryResult<T> {
  rows: T[];
  /** Rows returned (SELECT, … RETURNING) or affected (INSERT/UPDATE/DELETE); 0 for DDL. */
  rowCount: number;
}

export interface Queryable {
  /**
   * What runs the statements, when known. PGlite runs one statement at a time, so a lock that only orders
   * concurrent writers (an outbox key's) can be skipped there; unknown means take it.
   */
  readonly kind?: 'postgres' | 'pglite';
  /**
   * One statement with $1, $2… parameters (extended protocol on both drivers: several statements in one
   * string are refused with SQLSTATE 42601).
   */
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<QueryResult<T>>;
}

/** A Queryable that can also run a parameterless script of several statements (migrations, fixtures). */
export interface Executor extends Queryable {
  /** Runs `sql` (any number of statements, no parameters, simple query protocol); results are dropped. */
  exec(sql: string): Promise<void>;
  /**
   * A PostgreSQL transaction's: runs `hook` inside the transaction after its function returned, just before
   * COMMIT (hooks in the order given; one that throws rolls the transaction back). For locks best taken last
   * and all at once, in one order (the outbox keys').
   */
  beforeCommit?(hook: () => Promise<void>): void;
}

export interface Db extends Executor {
  readonly kind: 'postgres' | 'pglite';
  readonly schema: string;
  /**
   * Runs fn in one transaction (BEGIN/COMMIT, ROLLBACK on throw). Inside fn use only `tx`: calling the Db
   * itself (query, exec, transaction) from inside fn throws, because on PGlite it would wait for the
   * transaction forever and on PostgreSQL it would silently run outside it.
   */
  transaction<T>(fn: (tx: Executor) => Promise<T>): Promise<T>;
  /** Idempotent. Waits for the pool to end (PostgreSQL) or the instance to close (PGlite). */
  close(): Promise<void>;
}

export interface DbOptions {
  /** postgres://… or postgresql://… → pg.Pool; absent (or empty) → PGlite. */
  url?: string;
  /** PGlite data directory (created if missing); absent → in-memory PGlite. Ignored with `url`. */
  dataDir?: string;
  /** Every service owns one schema; created if missing; search_path set to it on every connection. */
  schema: string;
  /** pg pool size (default 10). */
  poolMax?: number;
  /**
   * How long an idle pooled connection stays open (ms; default 10 000); 0 keeps connections open for the
   * pool's life (the benchmark does, so that the CPU of every backend serving the pool stays measurable).
   */
  idleTimeoutMs?: number;
  /** For tests on a shared PostgreSQL: DROP SCHEMA … CASCADE at close. */
  dropSchemaOnClose?: boolean;
  /**
   * Errors that belong to no caller: an idle pooled connection that dies (server restart, network). The pool
   * drops that connection and opens a new one on demand; without this option such errors are ignored
   * (they never crash the process).
   */
  onError?: (err: Error) => void;
}
