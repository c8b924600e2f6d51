/**
 * Durable delivery to other servers (DESIGN "Delivery guarantees"): Message 7 to the account server and
 * Messages 8–11 to application servers, written with the change they report and sent until the receiver answers
 * 200, in order per ordering key. The machinery (heads, leases, advisory locks, back-off, dead letters, a window of
 * independent deliveries) is the shared outbox of @irsp/store (docs/decisions/0012-one-outbox.md); this module
 * names the table (`outbox`, `dead_letters`, migrations 002 and 006; `delivery_origin`, 009) and maps the Tables' statuses: 200 is
 * delivered; 400, 403 or 422 (the receiver will never accept it) go to dead_letters with the reason and without
 * secrets; anything else (500, 401, timeouts, refused connections) is retried.
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
  }
}
