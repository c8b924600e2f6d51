/**
 * What the applications do with a message received (Messages 8–11, 14–15): the default application records it
 * and the gateway queues it for every third party that takes it, in one transaction before the sender is
 * answered, so nothing acknowledged is lost (DESIGN "Delivery guarantees").
 */
import type { MessageDef } from '@irsp/protocol';
import type { ApplicationServerContext } from './context.js';
import { enqueueWebhooks, webhookEvent } from './gateway/webhooks.js';
import { record } from './received.js';

export async function receive(
  ctx: ApplicationServerContext,
  message: MessageDef,
  params: Record<string, string>,
): Promise<200> {
  const thirdParties = (ctx.config.gateway?.thirdParties ?? []).filter((t) =>
    (t.forward as readonly number[]).includes(message.number),
  );
  if (thirdParties.length === 0) return record(ctx.db, message.number, message.name, params);
  await ctx.db.transaction(async (tx) => {
    await record(tx, message.number, message.name, params);
    await enqueueWebhooks(tx, thirdParties, webhookEvent(message.number, params));
  });
  ctx.webhooksQueued();
  return 200;
}
