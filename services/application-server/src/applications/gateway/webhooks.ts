/**
 * The gateway's outbound side (clause 8.8): a message it received becomes a webhook event per third party that
 * takes it (`forward`), queued with the message; delivery adds a fresh envelope (Table 8's `version`, `appid`,
 * `timestamp`, `nonce`, and the stable `id`), signs it with the third party's key and posts it, with its delivery marks, until a 2xx.
 */
import type { ThirdPartyConfig } from '@irsp/config';
import { deliveryHeaders, newNonce, nowSeconds, webhookSchema, type WebhookEvent } from '@irsp/protocol';
import type { Queryable } from '@irsp/store';
import type { SignedClient } from '../../signed-client.js';
import { enqueueWebhook, type Delivery, type GatewayOutboxRow } from './outbox.js';

/** The event of a received message: its own parameters, and for 14–15 who sent it. */
export function webhookEvent(message: number, params: Record<string, string>): WebhookEvent {
  const pick = (names: readonly string[]) =>
    Object.fromEntries(names.filter((n) => params[n] !== undefined).map((n) => [n, params[n]]));
  const exchange = message === 14 || message === 15;
  return {
    message,
    ...pick(['userid', 'deviceid', 'data', 'type']),
    ...(exchange ? { from: params.appid, ...pick(['as']) } : {}),
  } as WebhookEvent;
}

/** Queues the event for each third party, in the transaction (`tx`) that records the message. */
export async function enqueueWebhooks(
  tx: Queryable,
  thirdParties: readonly ThirdPartyConfig[],
  event: WebhookEvent,
): Promise<void> {
  for (const thirdParty of thirdParties) await enqueueWebhook(tx, thirdParty.name, JSON.stringify(event));
}

/** Statuses worth retrying: the third party may yet accept (its key fixed, its load gone). */
const RETRY_4XX = new Set([401, 408, 429]);

export function deliverWebhooks(
  thirdParties: readonly ThirdPartyConfig[],
  client: SignedClient,
  appid: string,
): (row: GatewayOutboxRow, signal: AbortSignal) => Promise<Delivery> {
  return async (row, signal) => {
    const thirdParty = thirdParties.find((t) => t.name === row.thirdParty);
    if (!thirdParty) return { kind: 'refused', reason: 'third party no longer configured' };
    const signed = { timestamp: nowSeconds(), nonce: newNonce() };
    const body = webhookSchema.safeParse({
      version: '1',
      appid,
      ...signed,
      id: String(row.id),
      ...row.event,
    });
    if (!body.success) return { kind: 'refused', reason: 'event is not a valid webhook' };
    const outcome = await client.postJson(
      thirdParty.webhookUrl,
      JSON.stringify(body.data),
      signed,
      thirdParty.key,
      signal,
      deliveryHeaders({ id: row.deliveryId, attempt: row.attempts }),
    );
    if (outcome.kind === 'unreachable') return { kind: 'retry', reason: outcome.reason };
    if (outcome.status >= 200 && outcome.status < 300) return { kind: 'delivered' };
    if (outcome.status >= 400 && outcome.status < 500 && !RETRY_4XX.has(outcome.status))
      return { kind: 'refused', status: outcome.status, reason: `status ${outcome.status}` };
    return { kind: 'retry', reason: `status ${outcome.status}` };
  };
}
