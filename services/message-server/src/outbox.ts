/**
 * Durable delivery to other servers (DESIGN "Delivery guarantees"): an item is written with the change it
 * reports, then sent until the receiver answers 200. Items with the same ordering key leave in order; a 400,
 * 403 or 422 (the receiver will never accept it) goes to dead_letters with the reason; anything else (500,
 * 401, timeouts, refused connections) is retried with exponential back-off. A receiver that answers 200 to a
 * retry is back: its other rows waiting for their back-off are due at once, so its backlog drains without waiting
 * out the delays it earned while down (still in order per key; a receiver still down keeps its back-off). Several
 * message servers of one AS can share the table: rows are leased with SKIP LOCKED.
 */
import type { SendOutcome } from '@irsp/http';
import type { Logger } from '@irsp/http';
import { SECRET_PARAMETERS } from '@irsp/http';
import type { Db, Queryable } from '@irsp/store';

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
  batchSize?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  leaseMs?: number;
  pollMs?: number;
}

export async function enqueue(q: Queryable, item: OutboxItem): Promise<void> {
  await q.query('INSERT INTO outbox (target, operation, ordering_key, params) VALUES ($1, $2, $3, $4)', [
    item.target,
    item.operation,
    item.orderingKey,
    JSON.stringify(item.params),
  ]);
}

/** Dead letters keep what happened, not the secrets (a verification code is not needed to investigate). */
function withoutSecrets(params: Record<string, string>): Record<string, string> {
  const secrets = new Set<string>(SECRET_PARAMETERS);
  return Object.fromEntries(Object.entries(params).map(([k, v]) => [k, secrets.has(k) ? '[REDACTED]' : v]));
}

export class Outbox {
  private readonly options: Required<OutboxOptions>;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = true;

  constructor(
    private readonly db: Db,
    private readonly logger: Logger,
    private readonly deliver: Deliver,
    options: OutboxOptions = {},
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

  /** Delivers what is due now; several kicks while a round runs collapse into one more round. */
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
          while (!this.stopped && (await this.drainOnce()) === this.options.batchSize) {
            /* a full batch: there may be more */
          }
        } catch (error) {
          this.logger.error({ err: error }, 'outbox round failed');
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

  /**
   * One batch: lease the due head of each ordering key, send them, record the outcomes (the delivered rows in one
   * statement). A retry answered 200 makes the other waiting rows of its target due now, and asks for one more
   * round.
   */
  async drainOnce(): Promise<number> {
    const leased = await this.db.query<{
      id: string | number;
      target: string;
      operation: string;
      ordering_key: string;
      params: Record<string, string>;
      attempts: number;
    }>(
      `UPDATE outbox SET lease_until = now() + make_interval(secs => $2::double precision / 1000)
        WHERE id IN (
          SELECT o.id FROM outbox o
           WHERE o.next_attempt_at <= now() AND (o.lease_until IS NULL OR o.lease_until < now())
             AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.ordering_key = o.ordering_key AND p.id < o.id)
           ORDER BY o.id LIMIT $1 FOR UPDATE SKIP LOCKED)
        RETURNING id, target, operation, ordering_key, params, attempts`,
      [this.options.batchSize, this.options.leaseMs],
    );
    const delivered: number[] = [];
    const back = new Set<string>();
    await Promise.all(
      leased.rows.map(async (r) => {
        const row: OutboxRow = {
          id: Number(r.id),
          target: r.target,
          operation: r.operation,
          orderingKey: r.ordering_key,
          params: r.params,
          attempts: r.attempts,
        };
        if (await this.attempt(row)) {
          delivered.push(row.id);
          if (row.attempts > 0) back.add(row.target);
        }
      }),
    );
    if (delivered.length > 0) {
      await this.db.query('DELETE FROM outbox WHERE id = ANY($1::bigint[])', [delivered]);
    }
    if (back.size > 0) {
      const woken = await this.db.query(
        'UPDATE outbox SET next_attempt_at = now() WHERE target = ANY($1::text[]) AND next_attempt_at > now()',
        [[...back]],
      );
      if (woken.rowCount > 0) {
        this.logger.info({ targets: [...back], rows: woken.rowCount }, 'receiver back: backlog due now');
        this.again = true;
      }
    }
    return leased.rows.length;
  }

  /** Sends one row; true when it was delivered (the caller deletes it), else its outcome is recorded here. */
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
      return true;
    }
    if (
      outcome.kind === 'status' &&
      (outcome.status === 400 || outcome.status === 403 || outcome.status === 422)
    ) {
      await this.db.transaction(async (tx) => {
        await tx.query(
          `INSERT INTO dead_letters (id, target, operation, ordering_key, params, attempts, status, reason, created_at)
           SELECT id, target, operation, ordering_key, $2, attempts + 1, $3, $4, created_at FROM outbox WHERE id = $1`,
          [row.id, JSON.stringify(withoutSecrets(row.params)), outcome.status, outcome.detail ?? 'refused'],
        );
        await tx.query('DELETE FROM outbox WHERE id = $1', [row.id]);
      });
      this.logger.error({ ...log, status: outcome.status }, 'refused by the receiver: moved to dead_letters');
      return false;
    }
    const reason = outcome.kind === 'status' ? `status ${outcome.status}` : outcome.reason;
    const delay = Math.min(
      this.options.maxDelayMs,
      this.options.baseDelayMs * 2 ** Math.min(row.attempts, 20),
    );
    const jittered = Math.round(delay * (0.75 + Math.random() * 0.5));
    await this.db.query(
      `UPDATE outbox SET attempts = attempts + 1, lease_until = NULL, last_error = $2,
          next_attempt_at = now() + make_interval(secs => $3::double precision / 1000) WHERE id = $1`,
      [row.id, reason.slice(0, 500), jittered],
    );
    this.logger.warn({ ...log, reason, retryInMs: jittered }, 'delivery failed: will retry');
    return false;
  }
}
