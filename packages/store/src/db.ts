import { randomBytes } from 'node:crypto';

import { openPglite } from './pglite.js';
import { openPostgres } from './postgres.js';
import { quoteSchema } from './schema.js';
import type { Db, DbOptions } from './types.js';

/**
 * Opens a Db on PostgreSQL (`url` set) or PGlite (no `url`), creates `schema` if missing and makes it the
 * search_path. Throws on an invalid schema name, a bad URL or an unreachable server.
 *
 * Cost of a PGlite instance (measured on Node 20, x86_64, PGlite 0.5.16): a fresh in-memory one or a new
 * data directory runs initdb, about 1.9–2.7 s (the first in a process is the slowest: it also compiles
 * the WASM); reopening an existing data directory takes about 0.27 s. RSS grows by about 690 MB for the
 * first instance in a process (compiled WASM + 128 MB initial linear memory) and about 210–270 MB for
 * each further live instance; a new data directory takes 77 MB on disk. So one process with several
 * services is better served by one PGlite per service only when that memory is acceptable; on small
 * machines prefer PostgreSQL, or give each service its own process.
 *
 * A PostgreSQL pool opens with one round trip (checks search_path, creates the schema when missing).
 */
export async function openDb(opts: DbOptions): Promise<Db> {
  quoteSchema(opts.schema);
  if (opts.url === undefined || opts.url === '') return openPglite(opts);
  if (!/^postgres(ql)?:\/\//.test(opts.url)) {
    throw new TypeError('database url must start with postgres:// or postgresql://');
  }
  return openPostgres({ ...opts, url: opts.url });
}

/**
 * For tests: a Db on process.env.DATABASE_URL when set (unique schema `<prefix>_<random>`, pool of 4,
 * schema dropped at close), else on an in-memory PGlite (same schema name).
 */
export async function openTestDb(schemaPrefix = 't'): Promise<Db> {
  const schema = `${schemaPrefix}_${randomBytes(6).toString('hex')}`;
  quoteSchema(schema);
  const url = process.env['DATABASE_URL'];
  if (url !== undefined && url !== '') {
    return openDb({ url, schema, poolMax: 4, dropSchemaOnClose: true });
  }
  return openDb({ schema });
}
