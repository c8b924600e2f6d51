/**
 * @irsp/store — the one database interface of every IRSP service: PostgreSQL through a `pg` pool in
 * production, PGlite (PostgreSQL compiled to WASM, in-process) as the embedded default. Same SQL, same
 * migrations, same result shapes.
 *
 * Values returned, identical on both drivers:
 * - int2/int4/float4/float8/oid → number; bool → boolean; text/varchar/uuid/numeric → string;
 * - int8 (bigint, also count(*), sum(int)) → string, because a JS number loses precision above 2^53;
 *   cast in SQL (`count(*)::int`) where a number is wanted and the range allows it;
 * - timestamptz → Date; date → 'YYYY-MM-DD' string; interval → PostgreSQL text ('1 day 02:00:00');
 * - json/jsonb → parsed value; bytea → Buffer; arrays of these → arrays.
 * Not normalised (avoid or cast to text): timestamp without time zone, geometric types, money.
 *
 * Parameters: pass strings, numbers, booleans, null, Date (for timestamptz), Buffer/Uint8Array (bytea),
 * bigint. For json/jsonb pass `JSON.stringify(value)`: `pg` turns a JS array into a PostgreSQL array
 * literal, which is not JSON.
 */
export type { Db, DbOptions, Executor, Queryable, QueryResult } from './types.js';
export { openDb, openTestDb } from './db.js';
export { openPgliteHost, type PgliteHost, type PgliteHostOptions } from './pglite-host.js';
export { loadMigrations, migrate, type Migration } from './migrate.js';
export { constraintName, isUniqueViolation, sqlState } from './errors.js';
export { quoteSchema } from './schema.js';
export { withOwnedDb } from './own.js';
export {
  KeyedOutbox,
  enqueueItem,
  type Delivery,
  type KeyedOutboxOptions,
  type LeasedRow,
  type OutboxLogger,
  type OutboxSpec,
} from './outbox/outbox.js';
export { outboxStatements, type OutboxStatements, type OutboxTable } from './outbox/table.js';
