/**
 * Durable delivery to other servers (DESIGN "Delivery guarantees"): an item is written with the change it
 * reports, then sent until the receiver answers 200. Items with the same ordering key leave in order: only the
 * head of a key (its oldest row, marked `head`) is leased, and a row is deleted only once answered 200, so an item
 * is never sent before its predecessor was delivered or dead-lettered. A 400, 403 or 422 (the receiver will never
 * accept it) goes to dead_letters with the reason; anything else (500, 401, timeouts, refused connections) is
 * retried with exponential back-off. A receiver that answers 200 to a retry is back: its other rows waiting for
 * their back-off are due at once, so its backlog drains without waiting out the delays it earned while down (still
 * in order per key; a receiver still down keeps its back-off). Several message servers of one AS can share the
 * table: rows are leased with SKIP LOCKED and a lease outlives any one delivery.
 *
 * Deliveries run in a window of up to `maxInFlight` requests: whenever half of it is free (or it is empty, or new
 * work was signalled) the outcomes so far are written and the window refilled — the delivered rows deleted and the
 * next heads leased in one statement, failures rescheduled in one more — so a backlog drains without waiting for
 * the slowest request of a batch, at a few statements per window rather than per delivery.
 *
 * Heads are marked rather than searched for, so that a lease costs the same however long one key's backlog is.
 * A row is written as its key's head when the key has no other row, and the statement that deletes a head marks
 * its successor. On PostgreSQL both take the key's advisory lock first, in a statement before the one that
 * looks: otherwise a row written while its key's last row is being deleted would see that row, and the deletion
 * would not see the new row, which would then never become a head. PGlite runs one statement at a time, so there
 * the two cannot interleave and no lock is taken.
 */
import type { SendOutcome } from '@irsp/http';
import type { Logger } from '@irsp/http';
import { SECRET_PARAMETERS } from '@irsp/http';
import type { Db, Queryable } from '@irsp/store';

/** Takes the advisory lock of the ordering key $1 until the transaction ends. */
const LOCK_KEY = "SELECT pg_advisory_xact_lock(hashtext('outbox:' || $1))";

export interface OutboxItem {
  target: string;
  operation: string;
  orderingKey: string;
  params: Record<string, string>;
}

export interface OutboxRow extends OutboxItem {
  id: number;
  attempts: number;
}

export type Deliver = (row: OutboxRow) => Promise<SendOutcome>;

export interface OutboxOptions {
  /** Most deliveries in flight at once (each may hold a connection to its receiver). */
  maxInFlight?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  leaseMs?: number;
  pollMs?: number;
}

interface Failure {
  id: number;
  reason: string;
  delayMs: number;
}

/**
 * Writes an item, in the caller's transaction when given one (`tx`), else in one of its own on PostgreSQL (the
 * key's lock is held until the row is committed).
 */
export async function enqueue(q: Db | Queryable, item: OutboxItem): Promise<void> {
  if ('transaction' in q) {
    if (q.kind === 'pglite') return insert(q, item);
    return q.transaction((tx) => enqueue(tx, item));
  }
  await q.query(LOCK_KEY, [item.orderingKey]);
  await insert(q, item);
}

async function insert(q: Queryable, item: OutboxItem): Promise<void> {
  await q.query(
    `INSERT INTO outbox (target, operation, ordering_key, params, head)
     VALUES ($1, $2, $3, $4, NOT EXISTS (SELECT 1 FROM outbox WHERE ordering_key = $3))`,
    [item.target, item.operation, item.orderingKey, JSON.stringify(item.params)],
  );
}

/** Dead letters keep what happened, not the secrets (a verification code is not needed to investigate). */
function withoutSecrets(params: Record<string, string>): Record<string, string> {
  const secrets = new Set<string>(SECRET_PARAMETERS);
  return Object.fromEntries(Object.entries(params).map(([k, v]) => [k, secrets.has(k) ? '[REDACTED]' : v]));
}

export class Outbox {
  private readonly options: Required<OutboxOptions>;
  private timer: NodeJS.Timeout | undefined;
  private pumping: Promise<void> | undefined;
  private again = false;
  private stopped = true;
  /** New work may be due (enqueued, timer, receiver back): lease even if the window is more than half full. */
  private signalled = false;
  /** The last lease filled the window, or a delivery since made a successor the head: lease at half the window. */
  private unblocked = false;
  private readonly inFlight = new Set<Promise<void>>();
  /** Outcomes not yet written: their rows keep their lease until then, so nobody sends them or their successors. */
  private delivered: number[] = [];
  private failed: Failure[] = [];
  private back = new Set<string>();
  /**
   * Receivers woken (their waiting rows made due) with no failure since: another retry answered 200 finds nothing
   * left to wake, so it costs no statement (a backlog would otherwise run one per refill).
   */
  private readonly woken = new Set<string>();

  constructor(
    private readonly db: Db,
    private readonly logger: Logger,
    private readonly deliver: Deliver,
    options: OutboxOptions = {},
  ) {
    this.options = {
      maxInFlight: options.maxInFlight ?? 64,
      baseDelayMs: options.baseDelayMs ?? 500,
      maxDelayMs: options.maxDelayMs ?? 300_000,
      leaseMs: options.leaseMs ?? 60_000,
      pollMs: options.pollMs ?? 1_000,
    };
  }

  /** Marks the head of every key that has none (rows written before heads were marked), then delivers. */
  async start(): Promise<void> {
    await this.db.query(
      `UPDATE outbox SET head = true
        WHERE id = ANY(ARRAY(SELECT DISTINCT ON (ordering_key) id FROM outbox ORDER BY ordering_key, id))
          AND NOT head`,
    );
    this.stopped = false;
    this.timer = setInterval(() => this.kick(), this.options.pollMs);
    this.timer.unref();
    this.kick();
  }

  /** Something may be due now: delivers it; kicks while a pump runs collapse into one more. */
  kick(): void {
    this.signalled = true;
    this.schedule();
  }

  /** Waits for the deliveries in flight and writes their outcomes. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.pumping;
    await Promise.all(this.inFlight);
    try {
      await this.record();
      await this.deleteDelivered();
    } catch (error) {
      // Their rows are sent again once their lease runs out.
      this.logger.error({ err: error }, 'outbox outcomes not recorded at stop');
    }
  }

  /**
   * One round while the outbox is not started (tests, tools): lease up to `maxInFlight` heads, deliver them and
   * write the outcomes. Returns how many rows were leased.
   */
  async drainOnce(): Promise<number> {
    await this.record();
    const leased = await this.lease(this.options.maxInFlight);
    await Promise.all(this.inFlight);
    await this.record();
    await this.deleteDelivered();
    return leased;
  }

  private schedule(): void {
    if (this.stopped) return;
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = (async () => {
      do {
        this.again = false;
        try {
          await this.pump();
        } catch (error) {
          this.logger.error({ err: error }, 'outbox round failed');
        }
      } while (this.again && !this.stopped);
    })().finally(() => {
      this.pumping = undefined;
    });
  }

  /**
   * Refills the window when it is empty, when new work was signalled, or when half of it is free and something
   * may be due or half a window of deleted rows waits: refilling after every delivery would cost a statement per
   * delivery. After a lease that came back short, only a delivery whose row had a successor (now the head) or new
   * work can make anything due.
   */
  private async pump(): Promise<void> {
    const half = this.options.maxInFlight / 2;
    const room = this.options.maxInFlight - this.inFlight.size;
    if (room <= 0) return;
    const halfWorth = room >= half && (this.unblocked || this.delivered.length >= half);
    if (this.inFlight.size > 0 && !this.signalled && !halfWorth) return;
    this.signalled = false;
    await this.record();
    await this.lease(room);
  }

  /**
   * Deletes the rows delivered so far, marks their successors as heads and leases up to `limit` due heads, in one
   * statement (after the keys' locks on PostgreSQL), then starts delivering them.
   */
  private async lease(limit: number): Promise<number> {
    const done = this.delivered;
    this.delivered = [];
    // Cleared before the statement: a delivery that ends meanwhile may still make its successor the head.
    this.unblocked = false;
    let leased;
    try {
      leased = await this.leaseStatement(done, limit);
    } catch (error) {
      this.delivered.push(...done);
      throw error;
    }
    if (leased.length === limit) this.unblocked = true;
    for (const r of leased) {
      const row: OutboxRow = {
        id: Number(r.id),
        target: r.target,
        operation: r.operation,
        orderingKey: r.ordering_key,
        params: r.params,
        attempts: r.attempts,
      };
      const delivery = this.attempt(row)
        .then((left) => {
          if (left && r.has_next) this.unblocked = true;
        })
        .catch((error: unknown) => {
          // The row keeps its lease and is sent again when it runs out.
          this.logger.error({ err: error, id: row.id }, 'outcome not recorded');
        })
        .finally(() => {
          this.inFlight.delete(delivery);
          this.schedule();
        });
      this.inFlight.add(delivery);
    }
    return leased.length;
  }

  /**
   * The lease: the successors of the deleted rows are heads from now on and may be leased at once. Every part
   * is a bounded index probe, whatever the length of a key's backlog: a successor is the first row of its key
   * (LATERAL … LIMIT 1: DISTINCT ON read the whole key), the other candidates the first `limit` due heads of the
   * partial index. Candidates are ids (ARRAY(…)), so that rows are found by primary key: `id IN (…)` or an `OR`
   * of both made PostgreSQL scan the whole table. A successor is marked by the UPDATE that leases it, or by one
   * of its own when it is not leased (one write per row: a CASE over both was slower on PGlite). Returns the rows
   * leased.
   */
  private leaseStatement(done: number[], limit: number) {
    const run = (q: Queryable) =>
      q.query<{
        id: string | number;
        target: string;
        operation: string;
        ordering_key: string;
        params: Record<string, string>;
        attempts: number;
        has_next: boolean;
      }>(
        `WITH done AS (DELETE FROM outbox WHERE id = ANY($3::bigint[]) RETURNING ordering_key),
         successor AS (SELECT s.id FROM (SELECT DISTINCT ordering_key FROM done) d
                         CROSS JOIN LATERAL (SELECT n.id FROM outbox n
                                              WHERE n.ordering_key = d.ordering_key AND NOT (n.id = ANY($3::bigint[]))
                                              ORDER BY n.id LIMIT 1) s),
         leasable AS (SELECT o.id FROM outbox o
                       WHERE o.id = ANY(ARRAY(
                               (SELECT h.id FROM outbox h
                                 WHERE h.head AND h.next_attempt_at <= now()
                                   AND (h.lease_until IS NULL OR h.lease_until < now())
                                   AND NOT (h.id = ANY($3::bigint[]))
                                 ORDER BY h.id LIMIT $1)
                               UNION ALL SELECT id FROM successor))
                         AND o.next_attempt_at <= now() AND (o.lease_until IS NULL OR o.lease_until < now())
                       ORDER BY o.id LIMIT $1 FOR UPDATE SKIP LOCKED),
         marked AS (UPDATE outbox SET head = true
                     WHERE id = ANY(ARRAY(SELECT id FROM successor)) AND NOT (id = ANY(ARRAY(SELECT id FROM leasable))))
         UPDATE outbox SET head = true, lease_until = now() + make_interval(secs => $2::double precision / 1000)
          WHERE id = ANY(ARRAY(SELECT id FROM leasable))
          RETURNING id, target, operation, ordering_key, params, attempts,
                    EXISTS (SELECT 1 FROM outbox x WHERE x.ordering_key = outbox.ordering_key AND x.id > outbox.id)
                      AS has_next`,
        [limit, this.options.leaseMs, done],
      );
    if (done.length === 0 || this.db.kind === 'pglite') return run(this.db).then((r) => r.rows);
    return this.db.transaction(async (tx) => {
      // In one order of lock ids, so that two servers' leases cannot wait for each other.
      await tx.query(
        `SELECT pg_advisory_xact_lock(h) FROM (SELECT DISTINCT hashtext('outbox:' || ordering_key) AS h
                                                FROM outbox WHERE id = ANY($1::bigint[])) k ORDER BY h`,
        [done],
      );
      return (await run(tx)).rows;
    });
  }

  /** Deletes the rows delivered so far and marks their successors, leasing nothing. */
  private async deleteDelivered(): Promise<void> {
    if (this.delivered.length === 0) return;
    const ids = this.delivered;
    this.delivered = [];
    try {
      await this.leaseStatement(ids, 0);
    } catch (error) {
      this.delivered.push(...ids);
      throw error;
    }
  }

  /**
   * Writes the failures collected so far (one statement); a retry answered 200 makes the other waiting rows of its
   * target due now. A statement that fails leaves its outcomes to the next call (the rows keep their lease).
   */
  private async record(): Promise<void> {
    if (this.failed.length > 0) {
      const failed = this.failed;
      this.failed = [];
      try {
        await this.db.query(
          `UPDATE outbox o SET attempts = o.attempts + 1, lease_until = NULL, last_error = f.reason,
              next_attempt_at = now() + make_interval(secs => f.delay_ms / 1000)
             FROM unnest($1::bigint[], $2::text[], $3::double precision[]) AS f(id, reason, delay_ms)
            WHERE o.id = f.id`,
          [failed.map((f) => f.id), failed.map((f) => f.reason), failed.map((f) => f.delayMs)],
        );
      } catch (error) {
        this.failed.push(...failed);
        throw error;
      }
    }
    if (this.back.size > 0) {
      const targets = [...this.back];
      this.back = new Set();
      // Marked before the statement: a failure while it runs unmarks its receiver, which may then be woken again.
      for (const target of targets) this.woken.add(target);
      let woken;
      try {
        woken = await this.db.query(
          'UPDATE outbox SET next_attempt_at = now() WHERE target = ANY($1::text[]) AND next_attempt_at > now()',
          [targets],
        );
      } catch (error) {
        for (const target of targets) {
          this.woken.delete(target);
          this.back.add(target);
        }
        throw error;
      }
      if (woken.rowCount > 0) {
        this.logger.info({ targets, rows: woken.rowCount }, 'receiver back: backlog due now');
        this.signalled = true;
      }
    }
  }

  /**
   * Sends one row and collects its outcome, written with the next lease (a refusal is dead-lettered at once).
   * True when the row leaves the table (delivered or dead-lettered): its successor is the head.
   */
  private async attempt(row: OutboxRow): Promise<boolean> {
    let outcome: SendOutcome;
    try {
      outcome = await this.deliver(row);
    } catch (error) {
      outcome = { kind: 'unreachable', reason: (error as Error).message };
    }
    const log = { id: row.id, target: row.target, operation: row.operation, attempts: row.attempts + 1 };
    if (outcome.kind === 'status' && outcome.status === 200) {
      this.logger.debug(log, 'delivered');
      this.delivered.push(row.id);
      if (row.attempts > 0 && !this.woken.has(row.target)) this.back.add(row.target);
      return true;
    }
    if (
      outcome.kind === 'status' &&
      (outcome.status === 400 || outcome.status === 403 || outcome.status === 422)
    ) {
      await this.db.transaction(async (tx) => {
        await tx.query(LOCK_KEY, [row.orderingKey]);
        await tx.query(
          `INSERT INTO dead_letters (id, target, operation, ordering_key, params, attempts, status, reason, created_at)
           SELECT id, target, operation, ordering_key, $2, attempts + 1, $3, $4, created_at FROM outbox WHERE id = $1`,
          [row.id, JSON.stringify(withoutSecrets(row.params)), outcome.status, outcome.detail ?? 'refused'],
        );
        await tx.query('DELETE FROM outbox WHERE id = $1', [row.id]);
        await tx.query(
          'UPDATE outbox SET head = true WHERE id = (SELECT min(id) FROM outbox WHERE ordering_key = $1)',
          [row.orderingKey],
        );
      });
      this.logger.error({ ...log, status: outcome.status }, 'refused by the receiver: moved to dead_letters');
      return true;
    }
    this.woken.delete(row.target);
    const reason = outcome.kind === 'status' ? `status ${outcome.status}` : outcome.reason;
    const delay = Math.min(
      this.options.maxDelayMs,
      this.options.baseDelayMs * 2 ** Math.min(row.attempts, 20),
    );
    const jittered = Math.round(delay * (0.75 + Math.random() * 0.5));
    this.failed.push({ id: row.id, reason: reason.slice(0, 500), delayMs: jittered });
    this.logger.warn({ ...log, reason, retryInMs: jittered }, 'delivery failed: will retry');
    return false;
  }
}
