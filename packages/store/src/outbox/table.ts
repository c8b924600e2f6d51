/**
 * The statements of an outbox over a table of a given shape (docs/decisions/0012-one-outbox.md). Every outbox
 * table has `id bigserial PRIMARY KEY`, an ordering key column, the item's columns, `attempts` (leases so far),
 * `next_attempt_at`, `lease_until`, `last_error`, `created_at`, `head` (with a partial index on `id WHERE head`),
 * and a dead-letter table with `id`, the same key and item columns, `attempts`, `status`, `reason`, `created_at`;
 * the database has `delivery_origin` (one row: the `origin` of its delivery ids, docs/decisions/0015).
 */

export interface OutboxTable {
  /** The queue table. */
  name: string;
  /** Where rows the receiver refused go, with the status and reason. */
  deadLetters: string;
  /** The ordering key column: rows of one key leave in id order, one at a time. */
  key: string;
  /** The column naming the receiver: a retry it answers makes its other waiting rows due at once. */
  receiver: string;
  /** The item's columns besides the key (the receiver's among them or the key itself). */
  payload: readonly string[];
  /**
   * A text column the lease writes the leasing server's name to, when servers that die are found (the message
   * servers' leases, decision 0024): their rows are then released at once rather than when the row's lease ends.
   */
  leasedBy?: string;
}

const IDENTIFIER = /^[a-z_][a-z0-9_]*$/;

export interface OutboxStatements {
  table: OutboxTable;
  /** The item's columns, in the order `insert` takes its parameters (the key first). */
  columns: readonly string[];
  lockKey: string;
  lockKeysOf: string;
  insert: string;
  markHeads: string;
  lease: string;
  fail: string;
  wake: string;
  deadLetter(overridden: readonly string[]): string;
  remove: string;
  markHead: string;
  /** Ends the running leases of the servers $1 (only with `leasedBy`). */
  release: string | undefined;
}

/** The statements for `table`; throws on a name that is not a plain identifier (a programming error). */
export function outboxStatements(table: OutboxTable): OutboxStatements {
  const { name: t, key, receiver } = table;
  const columns = [key, ...table.payload.filter((c) => c !== key)];
  const leasedBy = table.leasedBy;
  for (const name of [t, table.deadLetters, receiver, ...columns, ...(leasedBy ? [leasedBy] : [])]) {
    if (!IDENTIFIER.test(name)) throw new TypeError(`outbox: ${JSON.stringify(name)} is not an identifier`);
  }
  if (!columns.includes(receiver)) throw new TypeError(`outbox: receiver ${receiver} is not an item column`);
  const list = columns.join(', ');
  return {
    table,
    columns,
    // The same lock ids as before the outboxes were one ('outbox:' and 'gateway_outbox:' prefixes), so that
    // servers of both versions sharing a database during an upgrade still exclude each other.
    lockKey: `SELECT pg_advisory_xact_lock(hashtext('${t}:' || $1))`,
    // In one order of lock ids, so that two servers' leases cannot wait for each other.
    lockKeysOf: `SELECT pg_advisory_xact_lock(h) FROM (SELECT DISTINCT hashtext('${t}:' || ${key}) AS h
                                                      FROM ${t} WHERE id = ANY($1::bigint[])) k ORDER BY h`,
    insert: `INSERT INTO ${t} (${list}, head)
             VALUES (${columns.map((_, i) => `$${i + 1}`).join(', ')}, NOT EXISTS (SELECT 1 FROM ${t} WHERE ${key} = $1))`,
    markHeads: `UPDATE ${t} SET head = true
                 WHERE id = ANY(ARRAY(SELECT DISTINCT ON (${key}) id FROM ${t} ORDER BY ${key}, id))
                   AND NOT head`,
    // Every part is a bounded index probe, whatever the length of a key's backlog: a successor is the first
    // row of its key (LATERAL … LIMIT 1: DISTINCT ON read the whole key), the other candidates the first
    // `limit` due heads of the partial index. Candidates are ids (ARRAY(…)), so that rows are found by primary
    // key: `id IN (…)` or an `OR` of both made PostgreSQL scan the whole table. A successor is marked by the
    // UPDATE that leases it, or by one of its own when it is not leased (one write per row: a CASE over both
    // was slower on PGlite). The head check is the mark, not NOT EXISTS: no anti join of the table with itself.
    lease: `WITH done AS (DELETE FROM ${t} WHERE id = ANY($3::bigint[]) RETURNING ${key}),
            successor AS (SELECT s.id FROM (SELECT DISTINCT ${key} FROM done) d
                            CROSS JOIN LATERAL (SELECT n.id FROM ${t} n
                                                 WHERE n.${key} = d.${key} AND NOT (n.id = ANY($3::bigint[]))
                                                 ORDER BY n.id LIMIT 1) s),
            leasable AS (SELECT o.id FROM ${t} o
                          WHERE o.id = ANY(ARRAY(
                                  (SELECT h.id FROM ${t} h
                                    WHERE h.head AND h.next_attempt_at <= now()
                                      AND (h.lease_until IS NULL OR h.lease_until < now())
                                      AND NOT (h.id = ANY($3::bigint[]))
                                    ORDER BY h.id LIMIT $1)
                                  UNION ALL SELECT id FROM successor))
                            AND o.next_attempt_at <= now() AND (o.lease_until IS NULL OR o.lease_until < now())
                          ORDER BY o.id LIMIT $1 FOR UPDATE SKIP LOCKED),
            marked AS (UPDATE ${t} SET head = true
                        WHERE id = ANY(ARRAY(SELECT id FROM successor)) AND NOT (id = ANY(ARRAY(SELECT id FROM leasable))))
            UPDATE ${t} SET head = true, attempts = attempts + 1, lease_until = now() + make_interval(secs => $2::double precision / 1000)${leasedBy ? `, ${leasedBy} = $4::text` : ''}
             WHERE id = ANY(ARRAY(SELECT id FROM leasable))
             RETURNING id, ${list}, attempts,
                       EXISTS (SELECT 1 FROM ${t} x WHERE x.${key} = ${t}.${key} AND x.id > ${t}.id) AS has_next,
                       (SELECT origin FROM delivery_origin) AS delivery_origin`,
    fail: `UPDATE ${t} o SET lease_until = NULL, last_error = f.reason,
              next_attempt_at = now() + make_interval(secs => f.delay_ms / 1000)
             FROM unnest($1::bigint[], $2::text[], $3::double precision[]) AS f(id, reason, delay_ms)
            WHERE o.id = f.id`,
    wake: `UPDATE ${t} SET next_attempt_at = now() WHERE ${receiver} = ANY($1::text[]) AND next_attempt_at > now()`,
    deadLetter: (overridden) => {
      const values = columns.map((c) => {
        const i = overridden.indexOf(c);
        return i < 0 ? c : `$${i + 4}`;
      });
      return `INSERT INTO ${table.deadLetters} (id, ${list}, attempts, status, reason, created_at)
              SELECT id, ${values.join(', ')}, attempts, $2, $3, created_at FROM ${t} WHERE id = $1`;
    },
    remove: `DELETE FROM ${t} WHERE id = $1`,
    markHead: `UPDATE ${t} SET head = true WHERE id = (SELECT min(id) FROM ${t} WHERE ${key} = $1)`,
    release: leasedBy
      ? `UPDATE ${t} SET lease_until = NULL WHERE ${leasedBy} = ANY($1::text[]) AND lease_until > now()`
      : undefined,
  };
}
