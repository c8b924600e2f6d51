import { randomBytes } from 'node:crypto';

import { openPglite } from './pglite.js';
import { openPostgres } from './postgres.js';
import { quoteSchema } from './schema.js';
import type { Db, DbOptions } from './types.js';

/**
 * Opens a Db on PostgreSQL (`url` set) or PGlite (no `url`), creates `schema` if missing and makes it the
 * search_path. Throws on an invalid schema name, a bad URL or an unreachable server.
 *
 * Cost of a PGlite instance (measured with openDb on Node 20, x86_64, 2 cores, PGlite 0.5.16): a fresh
 * in-memory instance or a new data directory runs initdb, 1.6–2.1 s, and the first instance in a process
 * 2.7–3.8 s (it also compiles the WASM); reopening an existing data directory takes 0.25–0.35 s. RSS grows
 * by about 700 MB for the first instance in a process (compiled WASM + 128 MB initial linear memory) and by
 * 210–270 MB for each further live one, given back only when the GC collects a closed instance; a new data
 * directory is 77 MB on disk. So several services in one process should not each open their own PGlite:
 * give them views of one openPgliteHost (a schema each), or use PostgreSQL. Five services of an IRSP
 * (five data directories, a 2-migration set each) took 10.6–11.7 s and 1.42–1.45 GB RSS with five openDb
 * instances on fresh directories (2.6–2.9 s and 0.96–1.0 GB reopening them), against 2.9–3.7 s and
 * 740–770 MB on one host (0.9 s and 330 MB reopening); see openPgliteHost for the per-statement cost.
 *
 * A PostgreSQL Db opens in 15–50 ms locally: two or three statements (check search_path, create the schema
 * when missing); connections then open on demand, up to poolMax, each failing after 10 s unanswered.
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
