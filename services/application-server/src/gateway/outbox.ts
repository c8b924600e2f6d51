/**
 * The gateway's durable webhook queue: the message server's outbox (services/message-server/src/outbox.ts) cut
 * down to one target kind — rows leased with SKIP LOCKED so instances can share the table, the head of each
 * third party's queue first (events leave in order), exponential back-off with jitter, dead letters for
 * refusals that can never succeed. It is not shared because it lives in the message server and carries form
 * operations, not events.
 *
 * As there, heads are marked (`head`) rather than searched for, so that a lease costs the same however long a
 * third party's backlog is: a row is written as the head when its third party has no other row, and the
 * statement that deletes a head marks its successor, both after the third party's advisory lock (a statement of
 * its own, before the one that looks), so that neither misses the other's row on PostgreSQL.
 */
import type { Logger } from '@irsp/http';
import type { WebhookEvent } from '@irsp/protocol';
import type { Db, Queryable } from '@irsp/store';

/** Takes the advisory lock of the third party $1 until the transaction ends. */
const LOCK_THIRD_PARTY = "SELECT pg_advisory_xact_lock(hashtext('gateway_outbox:' || $1))";

/** Writes a webhook for a third party, in the caller's transaction (the key's lock is held until it commits). */
export async function enqueueWebhook(tx: Queryable, thirdParty: string, event: string): Promise<void> {
  await tx.query(LOCK_THIRD_PARTY, [thirdParty]);
  await tx.query(
    `INSERT INTO gateway_outbox (third_party, event, head)
     VALUES ($1, $2, NOT EXISTS (SELECT 1 FROM gateway_outbox WHERE third_party = $1))`,
    [thirdParty, event],
  );
}

/** Deletes a head that left the queue and marks its successor, in the caller's transaction. */
async function removeHead(tx: Queryable, row: GatewayOutboxRow): Promise<void> {
  await tx.query(LOCK_THIRD_PARTY, [row.thirdParty]);
  await tx.query(
    `WITH gone AS (DELETE FROM gateway_outbox WHERE id = $1)
     UPDATE gateway_outbox SET head = true
      WHERE id = (SELECT id FROM gateway_outbox WHERE third_party = $2 AND id <> $1 ORDER BY id LIMIT 1)`,
    [row.id, row.thirdParty],
  );
}

export interface GatewayOutboxRow {
  id: number;
  thirdParty: string;
  event: WebhookEvent;
  attempts: number;
}

export type Delivery =
  | { kind: 'delivered' }
  | { kind: 'retry'; reason: string }
  | { kind: 'refused'; status?: number; reason: string };

export interface GatewayOutboxOptions {
  batchSize?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  leaseMs?: number;
  pollMs?: number;
}

export class GatewayOutbox {
  private readonly options: Required<GatewayOutboxOptions>;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = true;

  constructor(
    private readonly db: Db,
    private readonly logger: Logger,
    private readonly deliver: (row: GatewayOutboxRow) => Promise<Delivery>,
    options: GatewayOutboxOptions = {},
  ) {
    this.options = {
      batchSize: options.batchSize ?? 50,
      baseDelayMs: options.baseDelayMs ?? 500,
      maxDelayMs: options.maxDelayMs ?? 300_000,
      leaseMs: options.leaseMs ?? 60_000,
      pollMs: options.pollMs ?? 1_000,
    };
  }

  /** Marks the head of every third party that has none (rows written before heads were marked), then delivers. */
  async start(): Promise<void> {
    await this.db.query(
      `UPDATE gateway_outbox SET head = true
        WHERE id = ANY(ARRAY(SELECT DISTINCT ON (third_party) id FROM gateway_outbox ORDER BY third_party, id))
          AND NOT head`,
    );
    this.stopped = false;
    this.timer = setInterval(() => this.kick(), this.options.pollMs);
    this.timer.unref();
    this.kick();
  }

  /** Delivers what is due now; kicks while a round runs collapse into one more round. */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = (async () => {
      do {
        this.again = false;
        try {
          while (!this.stopped && (await this.round()).more) {
            /* more heads are due now */
          }
        } catch (error) {
          this.logger.error({ err: error }, 'gateway outbox round failed');
        }
      } while (this.again && !this.stopped);
    })().finally(() => {
      this.running = undefined;
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }

  /** One round (tests, tools): leases up to `batchSize` heads and delivers them. Returns how many were leased. */
  async drainOnce(): Promise<number> {
    return (await this.round()).leased;
  }

  /**
   * `more`: go on at once. Only one head per third party is leased, so a short round does not mean the queue is
   * drained: a row that left the table (delivered or dead-lettered) with a successor made that successor the head.
   * A retried row keeps its successors behind it; the poll finds it after its back-off.
   *
   * The ids are computed first (ARRAY(…)) so that the UPDATE finds them by primary key: as `id IN (…)` PostgreSQL
   * plans a scan of the whole table. The heads are read from their partial index in id order.
   */
  private async round(): Promise<{ leased: number; more: boolean }> {
    const leased = await this.db.query<{
      id: string | number;
      third_party: string;
      event: WebhookEvent;
      attempts: number;
      has_next: boolean;
    }>(
      `UPDATE gateway_outbox SET lease_until = now() + make_interval(secs => $2::double precision / 1000)
        WHERE id = ANY(ARRAY(
          SELECT o.id FROM gateway_outbox o
           WHERE o.head AND o.next_attempt_at <= now() AND (o.lease_until IS NULL OR o.lease_until < now())
           ORDER BY o.id LIMIT $1 FOR UPDATE SKIP LOCKED))
        RETURNING id, third_party, event, attempts,
                  EXISTS (SELECT 1 FROM gateway_outbox n
                           WHERE n.third_party = gateway_outbox.third_party AND n.id > gateway_outbox.id) AS has_next`,
      [this.options.batchSize, this.options.leaseMs],
    );
    const left = await Promise.all(
      leased.rows.map((r) =>
        this.attempt({ id: Number(r.id), thirdParty: r.third_party, event: r.event, attempts: r.attempts }),
      ),
    );
    return {
      leased: leased.rows.length,
      more:
        leased.rows.length === this.options.batchSize || leased.rows.some((r, i) => r.has_next && left[i]),
    };
  }

  /** Sends one row and writes its outcome. True when the row left the table (delivered or dead-lettered). */
  private async attempt(row: GatewayOutboxRow): Promise<boolean> {
    let delivery: Delivery;
    try {
      delivery = await this.deliver(row);
    } catch (error) {
      delivery = { kind: 'retry', reason: (error as Error).message };
    }
    const log = { id: row.id, thirdParty: row.thirdParty, attempts: row.attempts + 1 };
    if (delivery.kind === 'delivered') {
      await this.db.transaction((tx) => removeHead(tx, row));
      this.logger.debug(log, 'webhook delivered');
      return true;
    }
    if (delivery.kind === 'refused') {
      await this.db.transaction(async (tx) => {
        await tx.query(
          `INSERT INTO gateway_dead_letters (id, third_party, event, attempts, status, reason, created_at)
           SELECT id, third_party, event, attempts + 1, $2, $3, created_at FROM gateway_outbox WHERE id = $1`,
          [row.id, delivery.status ?? null, delivery.reason],
        );
        await removeHead(tx, row);
      });
      this.logger.error(
        { ...log, reason: delivery.reason },
        'webhook refused: moved to gateway_dead_letters',
      );
      return true;
    }
    const delay = Math.min(
      this.options.maxDelayMs,
      this.options.baseDelayMs * 2 ** Math.min(row.attempts, 20),
    );
    const jittered = Math.round(delay * (0.75 + Math.random() * 0.5));
    await this.db.query(
      `UPDATE gateway_outbox SET attempts = attempts + 1, lease_until = NULL, last_error = $2,
          next_attempt_at = now() + make_interval(secs => $3::double precision / 1000) WHERE id = $1`,
      [row.id, delivery.reason.slice(0, 500), jittered],
    );
    this.logger.warn({ ...log, reason: delivery.reason, retryInMs: jittered }, 'webhook failed: will retry');
    return false;
  }
}
