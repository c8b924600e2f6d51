/**
 * The durable outbox of every service (docs/decisions/0012-one-outbox.md, docs/consistency.md "Outboxes"): an
 * item is written with the change it reports, then delivered until the receiver accepts it. Items with the same
 * ordering key leave in order: only the head of a key (its oldest row, marked `head`) is leased, and a row is
 * deleted only once delivered, so an item is never sent before its predecessor was delivered or dead-lettered.
 * A refusal (the receiver will never accept it) goes to the dead-letter table with the reason; anything else is
 * retried with exponential back-off. A receiver that accepts a retry is back: its other rows waiting for their
 * back-off are due at once (still in order per key; a receiver still down keeps its back-off). Several servers
 * can share the table: rows are leased with SKIP LOCKED and a lease outlives any one delivery.
 *
 * Every delivery is marked so that a receiver can tell a retry (docs/protocol.md "Delivery marks"): its delivery
 * id (`<table>/<row id>@<origin>`, the origin a random id of the database written by a migration and returned by the lease, so ids stay
 * unique across restarts, across servers sharing the database and across databases) and its attempt number,
 * which the lease itself increments: a row sent, then lost with its server before the 200 was recorded, is
 * sent again as attempt 2 by whichever server leases it next.
 *
 * Deliveries are independent: up to `maxInFlight` run at once, each bounded by `deliveryTimeoutMs` (its signal
 * aborted, the row retried), and whenever half of the window is free (or it is empty, or new work was signalled)
 * the outcomes so far are written and the window refilled — the delivered rows deleted and the next heads leased
 * in one statement, failures rescheduled in one more — so a receiver that hangs holds back only its own keys, and
 * a backlog drains at a few statements per window rather than per delivery.
 *
 * Heads are marked rather than searched for, so that a lease costs the same however long one key's backlog is.
 * A row is written as its key's head when the key has no other row, and the statement that deletes a head marks
 * its successor. On PostgreSQL both take the key's advisory lock first, in a statement before the one that
 * looks: otherwise a row written while its key's last row is being deleted would see that row, and the deletion
 * would not see the new row, which would then never become a head. PGlite runs one statement at a time, so there
 * the two cannot interleave and no lock is taken.
 */
import type { Db, Executor, Queryable } from '../types.js';
import type { OutboxStatements } from './table.js';

/** What became of one delivery. */
export type Delivery =
  | { kind: 'delivered' }
  | { kind: 'retry'; reason: string }
  | { kind: 'refused'; status?: number | undefined; reason: string };

/** The part of a pino logger the outbox uses. */
export interface OutboxLogger {
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

export interface KeyedOutboxOptions {
  /** Most deliveries in flight at once (each may hold a connection to its receiver). */
  maxInFlight?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** How long a leased row is left to its server; longer than `deliveryTimeoutMs`. */
  leaseMs?: number;
  pollMs?: number;
  /** A delivery not settled by then is abandoned (its signal aborted) and retried; 30 s or half the lease. */
  deliveryTimeoutMs?: number;
  /** This server's name, written with each lease when the table has `leasedBy` (see release()). */
  leaser?: string;
}

/**
 * A leased row as the outbox reads it: its columns by name, its key and receiver, its delivery id and the number
 * of this attempt (1 on the first lease; more when an earlier lease may have sent it).
 */
export interface LeasedRow {
  id: number;
  deliveryId: string;
  attempts: number;
  key: string;
  receiver: string;
  columns: Record<string, unknown>;
}

export interface OutboxSpec<Row> {
  /** The table's statements (`outboxStatements`). */
  statements: OutboxStatements;
  /** The row the delivery function is given. */
  read(row: LeasedRow): Row;
  /** Values that replace the item's columns in its dead letter (secrets left out), as query parameters. */
  deadLetter?(row: Row): Record<string, unknown>;
  deliver(row: Row, signal: AbortSignal): Promise<Delivery>;
}

interface Failure {
  id: number;
  reason: string;
  delayMs: number;
}

/**
 * Writes an item (its columns by name), in the caller's transaction when given one (`tx`), else in one of its
 * own on PostgreSQL (the key's lock is held until the row is committed).
 *
 * In a PostgreSQL transaction the rows are written just before COMMIT, after the locks of all their keys are taken
 * at once in the order of their lock ids — the order a lease takes them in. Taken one by one as items were
 * enqueued, a transaction writing to two keys (a result to the user, a frame to the gateway) could hold one key's
 * lock while a lease held the other's and waited for the first: a deadlock, found by PostgreSQL only after
 * `deadlock_timeout` (1 s) and answered by aborting one of them.
 */
export async function enqueueItem(
  q: Db | Queryable | Executor,
  statements: OutboxStatements,
  item: Record<string, unknown>,
): Promise<void> {
  if (q.kind === 'pglite') return insert(q, statements, item);
  if ('transaction' in q) return q.transaction((tx) => enqueueItem(tx, statements, item));
  if ('beforeCommit' in q && q.beforeCommit) {
    let pending = pendingInserts.get(q);
    if (!pending) {
      const items: PendingInsert[] = [];
      pending = items;
      pendingInserts.set(q, items);
      q.beforeCommit(() => insertLocked(q, items));
    }
    pending.push({ statements, item });
    return;
  }
  await q.query(statements.lockKey, [item[statements.table.key]]);
  await insert(q, statements, item);
}

interface PendingInsert {
  statements: OutboxStatements;
  item: Record<string, unknown>;
}

/** The items a PostgreSQL transaction enqueued, written at its commit. */
const pendingInserts = new WeakMap<Queryable, PendingInsert[]>();

/** Locks every key of `items` in the order of their lock ids (as `lockKey` names them), then writes the rows in order. */
async function insertLocked(q: Queryable, items: readonly PendingInsert[]): Promise<void> {
  await q.query(LOCK_NAMED_KEYS, [items.map((p) => lockName(p.statements, p.item))]);
  for (const { statements, item } of items) await insert(q, statements, item);
}

const LOCK_NAMED_KEYS = `SELECT pg_advisory_xact_lock(h)
                           FROM (SELECT DISTINCT hashtext(name) AS h FROM unnest($1::text[]) AS name) k ORDER BY h`;

/** The text whose hash is the key's lock id: `<table>:<key>`, as in `lockKey` and `lockKeysOf`. */
const lockName = (statements: OutboxStatements, item: Record<string, unknown>) =>
  `${statements.table.name}:${String(item[statements.table.key])}`;

async function insert(q: Queryable, statements: OutboxStatements, item: Record<string, unknown>) {
  await q.query(
    statements.insert,
    statements.columns.map((c) => item[c]),
  );
}

export class KeyedOutbox<Row> {
  private readonly options: Required<Omit<KeyedOutboxOptions, 'leaser'>>;
  /** This server's name in `leasedBy` (null without one). */
  protected readonly leaser: string | null;
  private readonly sql: OutboxStatements;
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
   * Receivers woken (their waiting rows made due) with no failure since: another retry answered finds nothing
   * left to wake, so it costs no statement (a backlog would otherwise run one per refill).
   */
  private readonly woken = new Set<string>();

  constructor(
    private readonly db: Db,
    private readonly logger: OutboxLogger,
    private readonly spec: OutboxSpec<Row>,
    options: KeyedOutboxOptions = {},
  ) {
    this.sql = spec.statements;
    const leaseMs = options.leaseMs ?? 60_000;
    this.leaser = options.leaser ?? null;
    this.options = {
      maxInFlight: options.maxInFlight ?? 64,
      baseDelayMs: options.baseDelayMs ?? 500,
      maxDelayMs: options.maxDelayMs ?? 300_000,
      leaseMs,
      pollMs: options.pollMs ?? 1_000,
      deliveryTimeoutMs: options.deliveryTimeoutMs ?? Math.min(30_000, leaseMs / 2),
    };
    if (this.options.deliveryTimeoutMs >= this.options.leaseMs) {
      // Otherwise another server could lease a row whose delivery is still in flight.
      throw new RangeError('outbox: deliveryTimeoutMs must be shorter than leaseMs');
    }
  }

  /** Marks the head of every key that has none (rows written before heads were marked), then delivers. */
  async start(): Promise<void> {
    await this.db.query(this.sql.markHeads);
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

  /**
   * Servers found dead (`leasedBy` tables only): the rows they leased are due again at once, not when their leases
   * end, and delivered from here. A dead server's delivery may have reached its receiver before it died: the row is
   * then sent again, with a higher attempt (at least once, as after any lost lease). Answers how many were released.
   */
  async release(servers: readonly string[]): Promise<number> {
    if (this.sql.release === undefined || servers.length === 0) return 0;
    const released = (await this.db.query(this.sql.release, [[...servers]])).rowCount;
    this.kick();
    return released;
  }

  /** Waits for the deliveries in flight (each at most `deliveryTimeoutMs`) and writes their outcomes. */
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
      this.logger.error({ err: error, outbox: this.sql.table.name }, 'outbox outcomes not recorded at stop');
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
          this.logger.error({ err: error, outbox: this.sql.table.name }, 'outbox round failed');
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
    const { key, receiver } = this.sql.table;
    for (const r of leased) {
      const row: LeasedRow = {
        id: Number(r['id']),
        deliveryId: `${this.sql.table.name}/${String(r['id'])}@${String(r['delivery_origin'])}`,
        attempts: r['attempts'] as number,
        key: r[key] as string,
        receiver: r[receiver] as string,
        columns: r,
      };
      const delivery = this.attempt(row)
        .then((left) => {
          if (left && r['has_next'] === true) this.unblocked = true;
        })
        .catch((error: unknown) => {
          // The row keeps its lease and is sent again when it runs out.
          this.logger.error({ err: error, outbox: this.sql.table.name, id: row.id }, 'outcome not recorded');
        })
        .finally(() => {
          this.inFlight.delete(delivery);
          this.schedule();
        });
      this.inFlight.add(delivery);
    }
    return leased.length;
  }

  /** The lease statement (table.ts), after the locks of the deleted rows' keys on PostgreSQL. */
  private leaseStatement(done: number[], limit: number): Promise<Record<string, unknown>[]> {
    const params: unknown[] = [limit, this.options.leaseMs, done];
    if (this.sql.table.leasedBy !== undefined) params.push(this.leaser);
    if (done.length === 0 || this.db.kind === 'pglite')
      return this.db.query(this.sql.lease, params).then((r) => r.rows);
    return this.db.transaction(async (tx) => {
      await tx.query(this.sql.lockKeysOf, [done]);
      return (await tx.query(this.sql.lease, params)).rows;
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
   * Writes the failures collected so far (one statement); a retry delivered makes the other waiting rows of its
   * receiver due now. A statement that fails leaves its outcomes to the next call (the rows keep their lease).
   */
  private async record(): Promise<void> {
    if (this.failed.length > 0) {
      const failed = this.failed;
      this.failed = [];
      try {
        await this.db.query(this.sql.fail, [
          failed.map((f) => f.id),
          failed.map((f) => f.reason),
          failed.map((f) => f.delayMs),
        ]);
      } catch (error) {
        this.failed.push(...failed);
        throw error;
      }
    }
    if (this.back.size > 0) {
      const receivers = [...this.back];
      this.back = new Set();
      // Marked before the statement: a failure while it runs unmarks its receiver, which may then be woken again.
      for (const receiver of receivers) this.woken.add(receiver);
      let woken;
      try {
        woken = await this.db.query(this.sql.wake, [receivers]);
      } catch (error) {
        for (const receiver of receivers) {
          this.woken.delete(receiver);
          this.back.add(receiver);
        }
        throw error;
      }
      if (woken.rowCount > 0) {
        this.logger.info(
          { outbox: this.sql.table.name, receivers, rows: woken.rowCount },
          'receiver back: backlog due now',
        );
        this.signalled = true;
      }
    }
  }

  /** The delivery of one row, settled by `deliveryTimeoutMs` at the latest (then retried, its signal aborted). */
  private async deliver(row: Row): Promise<Delivery> {
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const timeoutMs = this.options.deliveryTimeoutMs;
    const expired = new Promise<Delivery>((resolve) => {
      timer = setTimeout(() => {
        // Settled before the abort, so that whatever an aborted delivery answers comes second.
        resolve({ kind: 'retry', reason: `no answer within ${timeoutMs} ms` });
        controller.abort(new Error(`no answer within ${timeoutMs} ms`));
      }, timeoutMs);
    });
    try {
      return await Promise.race([this.spec.deliver(row, controller.signal), expired]);
    } catch (error) {
      return { kind: 'retry', reason: (error as Error).message };
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Delivers one row and collects its outcome, written with the next lease (a refusal is dead-lettered at once).
   * True when the row leaves the table (delivered or dead-lettered): its successor is the head.
   */
  private async attempt(leased: LeasedRow): Promise<boolean> {
    const row = this.spec.read(leased);
    const delivery = await this.deliver(row);
    const { name, deadLetters } = this.sql.table;
    const log = {
      outbox: name,
      id: leased.id,
      key: leased.key,
      receiver: leased.receiver,
      attempts: leased.attempts,
    };
    if (delivery.kind === 'delivered') {
      this.logger.debug(log, 'delivered');
      this.delivered.push(leased.id);
      if (leased.attempts > 1 && !this.woken.has(leased.receiver)) this.back.add(leased.receiver);
      return true;
    }
    if (delivery.kind === 'refused') {
      const overrides = Object.entries(this.spec.deadLetter?.(row) ?? {});
      await this.db.transaction(async (tx) => {
        await tx.query(this.sql.lockKey, [leased.key]);
        await tx.query(this.sql.deadLetter(overrides.map(([column]) => column)), [
          leased.id,
          delivery.status ?? null,
          delivery.reason,
          ...overrides.map(([, value]) => value),
        ]);
        await tx.query(this.sql.remove, [leased.id]);
        await tx.query(this.sql.markHead, [leased.key]);
      });
      this.logger.error(
        { ...log, status: delivery.status, reason: delivery.reason },
        `refused by the receiver: moved to ${deadLetters}`,
      );
      return true;
    }
    this.woken.delete(leased.receiver);
    const delay = Math.min(
      this.options.maxDelayMs,
      this.options.baseDelayMs * 2 ** Math.min(leased.attempts - 1, 20),
    );
    const jittered = Math.round(delay * (0.75 + Math.random() * 0.5));
    this.failed.push({ id: leased.id, reason: delivery.reason.slice(0, 500), delayMs: jittered });
    this.logger.warn({ ...log, reason: delivery.reason, retryInMs: jittered }, 'delivery failed: will retry');
    return false;
  }
}
