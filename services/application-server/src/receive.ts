/**
 * What the applications do with a message received (Messages 8–11, 14–15): the default application records it
 * and the gateway queues it for every third party that takes it, in one transaction before the sender is
 * answered, so nothing acknowledged is lost (DESIGN "Delivery guarantees"). The sender's delivery mark is kept with
 * the record; a retry is recorded again, marked, for the application (and an operator) to tell.
 */
import type { DeliveryMark, MessageDef } from '@irsp/protocol';
import type { ApplicationServerContext } from './context.js';
import { enqueueWebhooks, webhookEvent } from './gateway/webhooks.js';
import { record } from './received.js';

export async function receive(
  ctx: ApplicationServerContext,
  message: MessageDef,
  params: Record<string, string>,
  delivery?: DeliveryMark,
): Promise<200> {
  const thirdParties = (ctx.config.gateway?.thirdParties ?? []).filter((t) =>
    (t.forward as readonly number[]).includes(message.number),
  );
  if (thirdParties.length === 0) return record(ctx.db, message.number, message.name, params, delivery);
  await ctx.db.transaction(async (tx) => {
    await record(tx, message.number, message.name, params, delivery);
    await enqueueWebhooks(tx, thirdParties, webhookEvent(message.number, params));
  });
  ctx.webhooksQueued();
  return 200;
}
