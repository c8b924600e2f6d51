/**
 * What the applications of this server send — Messages 12–13 to users and devices, 14–15 to application servers —
 * written in the application's own transaction and delivered by the shared outbox of @irsp/store
 * (docs/decisions/0012-one-outbox.md) over `send_outbox` and `send_dead_letters` (migrations 006, 007): in order per
 * target and addressee, retried with back-off until accepted, each delivery with its marks (decision 0015); 400, 403
 * and 422 (the receiver will never accept it) go to the dead letters with the status.
 */
import type { Logger, SendOutcome } from '@irsp/http';
import { MAX_DATA_LENGTH, deliveryHeaders } from '@irsp/protocol';
import { KeyedOutbox, enqueueItem, outboxStatements } from '@irsp/store';
import type { Db, Delivery, KeyedOutboxOptions, Queryable } from '@irsp/store';
import type { ApplicationServerContext } from './context.js';
import { exchangeWith, push, type Addressee, type ExchangeTarget } from './send.js';

const SEND_OUTBOX = outboxStatements({
  name: 'send_outbox',
  deadLetters: 'send_dead_letters',
  key: 'key',
  receiver: 'receiver',
  payload: ['receiver', 'message', 'addressee', 'data', 'application', 'third_party'],
});

/** Where a queued message goes: a message server of the AS (12–13) or an application server (14–15). */
export type SendTarget = { kind: 'message-server' } | ({ kind: 'application-server' } & ExchangeTarget);

export interface QueuedSend {
  id: number;
  deliveryId: string;
  attempts: number;
  target: SendTarget;
  message: 12 | 13 | 14 | 15;
  to: Addressee;
  data: string;
  application: string;
}

/** The receiver column: one per target, so that a target that answers again makes its other rows due at once. */
function receiverOf(target: SendTarget): string {
  if (target.kind === 'message-server') return 'message-server';
  return target.as === undefined ? `as:${target.server}` : `peer:${target.as}/${target.server}`;
}

function targetOf(receiver: string, thirdParty: string | null): SendTarget {
  if (receiver === 'message-server') return { kind: 'message-server' };
  if (receiver.startsWith('as:'))
    return {
      kind: 'application-server',
      server: receiver.slice(3),
      ...(thirdParty === null ? {} : { thirdParty }),
    };
  const [as, server] = receiver.slice(5).split('/') as [string, string];
  return { kind: 'application-server', server, as };
}

/**
 * Queues a message in `q`'s transaction (or its own). The data is checked here, where the application still
 * hears about it, not when the receiver refuses it later.
 */
export async function enqueueSend(
  q: Db | Queryable,
  application: string,
  target: SendTarget,
  to: Addressee,
  data: string,
): Promise<void> {
  if (data.length < 1 || data.length > MAX_DATA_LENGTH)
    throw new RangeError(`data must be 1 to ${MAX_DATA_LENGTH} characters`);
  const thirdParty = target.kind === 'application-server' ? target.thirdParty : undefined;
  if (thirdParty !== undefined && target.kind === 'application-server' && target.as !== undefined)
    throw new RangeError('a third party is named only to an application server of this AS');
  const user = 'userid' in to;
  const message = target.kind === 'message-server' ? (user ? 12 : 13) : user ? 14 : 15;
  const addressee = user ? to.userid : to.deviceid;
  const receiver = receiverOf(target);
  await enqueueItem(q, SEND_OUTBOX, {
    key: `${receiver} ${addressee}`,
    receiver,
    message,
    addressee,
    data,
    application,
    third_party: thirdParty ?? null,
  });
}

function delivery(outcome: SendOutcome | undefined): Delivery {
  if (outcome === undefined) return { kind: 'refused', reason: 'target not configured' };
  if (outcome.kind === 'status' && outcome.status === 200) return { kind: 'delivered' };
  if (outcome.kind === 'status' && [400, 403, 422].includes(outcome.status))
    return { kind: 'refused', status: outcome.status, reason: outcome.detail ?? 'refused' };
  return { kind: 'retry', reason: outcome.kind === 'status' ? `status ${outcome.status}` : outcome.reason };
}

export class SendOutbox extends KeyedOutbox<QueuedSend> {
  constructor(db: Db, logger: Logger, ctx: ApplicationServerContext, options: KeyedOutboxOptions = {}) {
    super(
      db,
      logger,
      {
        statements: SEND_OUTBOX,
        read: (row) => {
          const message = row.columns['message'] as QueuedSend['message'];
          const addressee = row.columns['addressee'] as string;
          return {
            id: row.id,
            deliveryId: row.deliveryId,
            attempts: row.attempts,
            target: targetOf(row.receiver, row.columns['third_party'] as string | null),
            message,
            to: message === 12 || message === 14 ? { userid: addressee } : { deviceid: addressee },
            data: row.columns['data'] as string,
            application: row.columns['application'] as string,
          };
        },
        deliver: async (row) => {
          const headers = deliveryHeaders({ id: row.deliveryId, attempt: row.attempts });
          return delivery(
            row.target.kind === 'message-server'
              ? await push(ctx, row.to, row.data, headers)
              : await exchangeWith(ctx, row.target, row.to, row.data, headers),
          );
        },
      },
      options,
    );
  }
}
