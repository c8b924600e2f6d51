/**
 * The gateway's durable webhook queue (clause 8.8): the shared outbox of @irsp/store (docs/decisions/
 * 0012-one-outbox.md) over `gateway_outbox` and `gateway_dead_letters` (migrations 003 and 004; `delivery_origin`, 005), one ordering key
 * and receiver per third party: each third party's webhooks leave in order, retried with back-off until a 2xx,
 * refusals that can never succeed dead-lettered; deliveries are independent, so a third party that hangs holds
 * back only its own webhooks.
 */
import type { Logger } from '@irsp/http';
import type { WebhookEvent } from '@irsp/protocol';
import { KeyedOutbox, enqueueItem, outboxStatements } from '@irsp/store';
import type { Db, Delivery, KeyedOutboxOptions, Queryable } from '@irsp/store';

export type { Delivery };

const GATEWAY_OUTBOX = outboxStatements({
  name: 'gateway_outbox',
  deadLetters: 'gateway_dead_letters',
  key: 'third_party',
  receiver: 'third_party',
  payload: ['event'],
});

/** Writes a webhook for a third party, in the caller's transaction (the key's lock is held until it commits). */
export function enqueueWebhook(q: Db | Queryable, thirdParty: string, event: string): Promise<void> {
  return enqueueItem(q, GATEWAY_OUTBOX, { third_party: thirdParty, event });
}

export interface GatewayOutboxRow {
  id: number;
  /** Sent as IRSP-Delivery-Id with the attempt's number (`attempts`, 1 on the first). */
  deliveryId: string;
  thirdParty: string;
  event: WebhookEvent;
  attempts: number;
}

export type GatewayOutboxOptions = KeyedOutboxOptions;

export class GatewayOutbox extends KeyedOutbox<GatewayOutboxRow> {
  constructor(
    db: Db,
    logger: Logger,
    deliver: (row: GatewayOutboxRow, signal: AbortSignal) => Promise<Delivery>,
    options: GatewayOutboxOptions = {},
  ) {
    super(
      db,
      logger,
      {
        statements: GATEWAY_OUTBOX,
        read: (row) => ({
          id: row.id,
          deliveryId: row.deliveryId,
          thirdParty: row.key,
          event: row.columns['event'] as WebhookEvent,
          attempts: row.attempts,
        }),
        deliver,
      },
      options,
    );
  }
}
