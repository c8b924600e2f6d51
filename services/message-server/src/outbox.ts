/**
 * Durable delivery to other servers (DESIGN "Delivery guarantees"): Message 7 to the account server and
 * Messages 8–11 to application servers, written with the change they report and sent until the receiver answers
 * 200, in order per ordering key. The machinery (heads, leases, advisory locks, back-off, dead letters, a window of
 * independent deliveries) is the shared outbox of @irsp/store (docs/decisions/0012-one-outbox.md); this module
 * names the table (`outbox`, `dead_letters`, migrations 002 and 006; `delivery_origin`, 009) and maps the Tables' statuses: 200 is
 * delivered; 400, 403 or 422 (the receiver will never accept it) go to dead_letters with the reason and without
 * secrets; anything else (500, 401, timeouts, refused connections) is retried. Each lease names the message server
 * that took it (`leased_by`, 016): the rows of a server found dead (decision 0024) are delivered by a live one at
 * once, and a server that restarts takes back those of its previous life, rather than waiting for the rows' leases.
 */
import type { Logger, SendOutcome } from '@irsp/http';
import { SECRET_PARAMETERS } from '@irsp/http';
import { KeyedOutbox, enqueueItem, outboxStatements } from '@irsp/store';
import type { Db, Delivery, KeyedOutboxOptions, Queryable } from '@irsp/store';

const OUTBOX = outboxStatements({
  name: 'outbox',
  deadLetters: 'dead_letters',
  key: 'ordering_key',
  receiver: 'target',
  payload: ['target', 'operation', 'params'],
  leasedBy: 'leased_by',
});

export interface OutboxItem {
  target: string;
  operation: string;
  orderingKey: string;
  params: Record<string, string>;
}

export interface OutboxRow extends OutboxItem {
  id: number;
  /** Sent as IRSP-Delivery-Id with the attempt's number (`attempts`, 1 on the first). */
  deliveryId: string;
  attempts: number;
}

export type Deliver = (row: OutboxRow) => Promise<SendOutcome>;

export type OutboxOptions = KeyedOutboxOptions;

/**
 * Writes an item, in the caller's transaction when given one (`tx`), else in one of its own on PostgreSQL (the
 * key's lock is held until the row is committed).
 */
export function enqueue(q: Db | Queryable, item: OutboxItem): Promise<void> {
  return enqueueItem(q, OUTBOX, {
    target: item.target,
    operation: item.operation,
    ordering_key: item.orderingKey,
    params: JSON.stringify(item.params),
  });
}

/** Dead letters keep what happened, not the secrets (a verification code is not needed to investigate). */
function withoutSecrets(params: Record<string, string>): Record<string, string> {
  const secrets = new Set<string>(SECRET_PARAMETERS);
  return Object.fromEntries(Object.entries(params).map(([k, v]) => [k, secrets.has(k) ? '[REDACTED]' : v]));
}

function delivery(outcome: SendOutcome): Delivery {
  if (outcome.kind === 'status' && outcome.status === 200) return { kind: 'delivered' };
  if (
    outcome.kind === 'status' &&
    (outcome.status === 400 || outcome.status === 403 || outcome.status === 422)
  )
    return { kind: 'refused', status: outcome.status, reason: outcome.detail ?? 'refused' };
  return { kind: 'retry', reason: outcome.kind === 'status' ? `status ${outcome.status}` : outcome.reason };
}

export class Outbox extends KeyedOutbox<OutboxRow> {
  /** The dead servers whose rows were released, until they are alive again (one release per death). */
  private released = new Set<string>();

  private readonly log: Logger;

  constructor(db: Db, logger: Logger, deliver: Deliver, options: OutboxOptions = {}) {
    super(
      db,
      logger,
      {
        statements: OUTBOX,
        read: (row) => ({
          id: row.id,
          deliveryId: row.deliveryId,
          attempts: row.attempts,
          target: row.receiver,
          operation: row.columns['operation'] as string,
          orderingKey: row.key,
          params: row.columns['params'] as Record<string, string>,
        }),
        deadLetter: (row) => ({ params: JSON.stringify(withoutSecrets(row.params)) }),
        deliver: async (row) => delivery(await deliver(row)),
      },
      options,
    );
    this.log = logger;
  }

  /** Before delivering: the rows this server leased in a previous life (same id) are due again at once. */
  override async start(): Promise<void> {
    if (this.leaser !== null) await this.release([this.leaser]);
    await super.start();
  }

  /**
   * The message servers of the AS whose lease has run out, every round (online-sessions.ts): the rows each leased
   * are released once per death.
   */
  dead(servers: string[]): void {
    const fresh = servers.filter((server) => !this.released.has(server));
    this.released = new Set(servers);
    if (fresh.length === 0) return;
    this.release(fresh).then(
      (rows) => {
        if (rows > 0)
          this.log.warn({ servers: fresh, rows }, 'outbox rows of dead message servers taken over');
      },
      (error: unknown) => {
        // Tried again at the next round.
        for (const server of fresh) this.released.delete(server);
        this.log.error({ err: error, servers: fresh }, 'outbox rows of dead message servers not released');
      },
    );
  }
}
