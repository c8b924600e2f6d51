/**
 * A message received (Messages 8–11, 14–15) goes to every application of the server in one transaction, before the
 * sender is answered, so nothing acknowledged is lost (docs/principles.md, "Delivery guarantees"): what an
 * application records or queues commits with the others' or not at all, and a failure answers 500 so that the
 * sender retries. The sender's delivery mark goes with it: a retry is handed over again, marked, for each
 * application to tell.
 */
import type { DeliveryMark, MessageDef } from '@irsp/protocol';
import type { Received } from './application.js';
import type { ApplicationServerContext } from './context.js';

/** How a caller proved itself: no application's business. */
const PROOF = new Set(['token', 'timestamp', 'nonce']);

export async function receive(
  ctx: ApplicationServerContext,
  message: MessageDef,
  params: Record<string, string>,
  delivery?: DeliveryMark,
): Promise<200> {
  const received: Received = {
    message,
    params: Object.fromEntries(Object.entries(params).filter(([name]) => !PROOF.has(name))),
    delivery,
  };
  const handlers = ctx.applications.filter((a) => a.receive !== undefined);
  await ctx.db.transaction(async (tx) => {
    for (const application of handlers) await application.receive!(received, tx);
  });
  for (const application of ctx.applications) application.committed?.();
  ctx.sendsQueued();
  return 200;
}
