import { TransactionAbortedError, type PGlite } from '@electric-sql/pglite';
import pg from 'pg';

import { StatementCache } from './statement-cache.js';
import type { Executor, QueryResult } from './types.js';
import { MessageWriter, readReply, type Reply, type WireValue } from './wire.js';

// node-postgres's own parameter conversion (null/undefined → NULL, Buffer → bytea, Date, arrays → array
// literal, objects → JSON): PGlite then takes parameters exactly as the pg pool does. Not in @types/pg.
const { prepareValue } = (pg as unknown as { utils: { prepareValue: (value: unknown) => WireValue } }).utils;
if (typeof prepareValue !== 'function') throw new Error('pg.utils.prepareValue is missing (pg upgrade?)');

/** Sets a host view's schema for the rest of the implicit (extended-protocol) transaction, i.e. until Sync. */
const SET_SEARCH_PATH = "SELECT pg_catalog.set_config('search_path', $1, true)";
/** Command tags after which cached statements may be stale (result type changed) or gone. */
const INVALIDATES = /^(CREATE|ALTER|DROP|DEALLOCATE|DISCARD)\b/;
const CACHE_SIZE = 400;

interface Step {
  /** Cache key: the schema is part of it, so a statement prepared for one schema never runs in another. */
  key: string;
  sql: string;
  values: WireValue[];
  /** Whether the rows are wanted (RowDescription); set_config's are not. */
  describe: boolean;
}

const step = (schema: string, sql: string, values: WireValue[] = [], describe = true): Step => ({
  key: `${schema}:${sql}`,
  sql,
  values,
  describe,
});

/**
 * Everything a Db (or every view of a PgliteHost) does on its PGlite instance, one call after another in call
 * order. A statement is one buffer through PGlite's raw entry point (execProtocolRawStream, which takes none of
 * PGlite's locks, hence the queue here): [Close of evicted statements,] [Parse,] Bind, Describe, Execute, Sync,
 * where PGlite's own query() makes six calls into WASM and re-parses every time. Statements are prepared once
 * per text (StatementCache), so PostgreSQL parses each once and, after five runs, may keep a generic plan.
 * On a host (`hosted`) the buffer first sets search_path for its own implicit transaction; the session's own
 * search_path stays empty. A prepared statement whose table changed shape fails ("cached plan must not change
 * result type"), so every schema change seen here (exec, a CREATE/ALTER/DROP statement) forgets them all; one
 * still stale (an ALTER rolled back after a statement was prepared against it) is prepared again unseen outside
 * a transaction, and fails once with 0A000 inside one.
 */
export class PgliteSession {
  readonly #pglite: PGlite;
  readonly #hosted: boolean;
  readonly #cache = new StatementCache(CACHE_SIZE);
  #tail: Promise<unknown> = Promise.resolve();

  constructor(pglite: PGlite, hosted: boolean) {
    this.#pglite = pglite;
    this.#hosted = hosted;
  }

  /** Runs fn once every call queued before it has ended; nothing else runs on the instance meanwhile. */
  serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(fn);
    this.#tail = run.then(noop, noop);
    return run;
  }

  /** One statement outside any transaction: committed (and synced to the filesystem) when it resolves. */
  query<T>(schema: string, sql: string, params: unknown[] | undefined): Promise<QueryResult<T>> {
    return this.serial(() => this.#statement<T>(schema, sql, params, true));
  }

  /** A script (simple protocol, PGlite's exec); on a host inside a transaction that sets search_path. */
  exec(schema: string, sql: string): Promise<void> {
    if (this.#hosted) return this.transaction(schema, (tx) => tx.exec(sql));
    return this.serial(() => this.#script(sql));
  }

  /**
   * BEGIN, fn, COMMIT (ROLLBACK when fn throws), holding the queue: the same steps and errors as PGlite's
   * transaction(), 25P02 when COMMIT answers ROLLBACK, 'Transaction is closed' for a tx used after the end.
   */
  transaction<T>(schema: string, fn: (tx: Executor) => Promise<T>): Promise<T> {
    return this.serial(async () => {
      const begin = [step(schema, 'BEGIN', [], false)];
      if (this.#hosted) begin.push(step(schema, SET_SEARCH_PATH, [schema], false));
      await this.#control(begin, false);
      let closed = false;
      const assertOpen = (): void => {
        if (closed) throw new Error('Transaction is closed');
      };
      const tx: Executor = {
        kind: 'pglite',
        query: async <R>(sql: string, params?: unknown[]): Promise<QueryResult<R>> => {
          assertOpen();
          return this.#statement<R>(schema, sql, params, false);
        },
        exec: async (sql: string): Promise<void> => {
          assertOpen();
          await this.#script(sql);
        },
      };
      try {
        const result = await fn(tx);
        closed = true;
        if ((await this.#control([step(schema, 'COMMIT', [], false)], true)).tag === 'ROLLBACK') {
          throw withQuery(new TransactionAbortedError(), 'COMMIT', undefined);
        }
        return result;
      } catch (err) {
        if (!closed) {
          closed = true;
          await this.#control([step(schema, 'ROLLBACK', [], false)], true);
        }
        throw err;
      }
    });
  }

  async #script(sql: string): Promise<void> {
    try {
      await this.#pglite.exec(sql);
    } finally {
      this.#cache.clear();
    }
  }

  async #control(steps: Step[], syncToFs: boolean): Promise<Reply> {
    const reply = await this.#send(steps, syncToFs);
    if (reply.error !== undefined) throw withQuery(reply.error, steps.at(-1)?.sql ?? '', undefined);
    return reply;
  }

  /**
   * One statement. Outside a transaction a stale cached statement (its result type changed, or it was
   * deallocated) is re-prepared and the buffer sent again: the failed one was rolled back whole.
   */
  async #statement<T>(
    schema: string,
    sql: string,
    params: unknown[] | undefined,
    outside: boolean,
  ): Promise<QueryResult<T>> {
    const values = (params ?? []).map((p) => prepareValue(p));
    const steps = [step(schema, sql, values)];
    if (this.#hosted && outside) steps.unshift(step(schema, SET_SEARCH_PATH, [schema], false));
    for (let attempt = 0; ; attempt++) {
      const reply = await this.#send(steps, outside);
      if (reply.error === undefined) {
        if (INVALIDATES.test(reply.tag)) this.#cache.clear();
        return { rows: reply.rows as T[], rowCount: rowCount(reply) };
      }
      if (isStale(reply.error)) {
        this.#cache.clear();
        if (attempt === 0 && outside && reply.status === 'I') continue;
      }
      throw withQuery(reply.error, sql, params ?? []);
    }
  }

  /** Writes the steps as one buffer, runs it, and records the statements it prepared. */
  async #send(steps: Step[], syncToFs: boolean): Promise<Reply> {
    const w = new MessageWriter();
    for (const name of this.#cache.takeClosing()) w.close(name);
    const prepared: [key: string, name: string][] = [];
    for (const s of steps) {
      let name = this.#cache.get(s.key);
      if (name === undefined) {
        name = this.#cache.newName();
        w.parse(name, s.sql);
        prepared.push([s.key, name]);
      }
      w.bind(name, s.values);
      if (s.describe) w.describePortal();
      w.execute();
    }
    w.sync();
    const chunks: Buffer[] = [];
    await this.#pglite.execProtocolRawStream(w.finish(), {
      syncToFs,
      // A view into WASM memory, valid only during the call.
      onRawData: (bytes) => chunks.push(Buffer.from(bytes)),
    });
    const reply = readReply(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks), this.#pglite.parsers);
    // A Parse that failed created nothing; the backend skipped every message after the error.
    for (const [key, name] of prepared.slice(0, reply.parsed)) this.#cache.add(key, name);
    return reply;
  }
}

function noop(): void {}

/** rowCount as PGlite's query() computes it: the number ending the command tag, else the rows returned. */
function rowCount(reply: Reply): number {
  const n = parseInt(reply.tag.slice(reply.tag.lastIndexOf(' ') + 1), 10);
  return Number.isNaN(n) ? reply.rows.length : n;
}

/** The backend no longer has the statement, or cannot run it with the result type it was described with. */
function isStale(error: { code?: string; routine?: string }): boolean {
  return error.code === '26000' || (error.code === '0A000' && error.routine === 'RevalidateCachedQuery');
}

/** Adds what PGlite's makePGliteError adds to a DatabaseError. */
function withQuery<E extends Error>(error: E, query: string, params: unknown[] | undefined): E {
  return Object.assign(error, { query, params, queryOptions: undefined });
}
