/**
 * The gateway's durable webhook queue: the message server's outbox (services/message-server/src/outbox.ts) cut
 * down to one target kind — rows leased with SKIP LOCKED so instances can share the table, the head of each
 * third party's queue first (events leave in order), exponential back-off with jitter, dead letters for
 * refusals that can never succeed. It is not shared because it lives in the message server and carries form
 * operations, not events.
 */
import type { Logger } from '@irsp/http';
import type { WebhookEvent } from '@irsp/protocol';
import type { Db } from '@irsp/store';

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

  start(): void {
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
   * plans a scan of the whole table. The head check's `OFFSET 0` keeps PostgreSQL from turning it into an anti join
   * of the table with itself (16 s per lease for 20 000 rows of one third party): it stays one index probe per row
   * visited in id order.
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
           WHERE o.next_attempt_at <= now() AND (o.lease_until IS NULL OR o.lease_until < now())
             AND NOT EXISTS (SELECT 1 FROM gateway_outbox p WHERE p.third_party = o.third_party AND p.id < o.id
                              OFFSET 0)
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
      await this.db.query('DELETE FROM gateway_outbox WHERE id = $1', [row.id]);
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
        await tx.query('DELETE FROM gateway_outbox WHERE id = $1', [row.id]);
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
