/**
 * Table 8 (our definition; the text of clause 8.8 stops before it): what an IRSP external (third-party)
 * application server sends to our gateway, and what the gateway sends to its webhook. Both are JSON bodies
 * signed as in signature.ts with a key shared with that third party, in the SIGNATURE_HEADER. Inbound requests
 * become Messages 12–13 (push through our message server) or 14–15 (exchange with a local application server);
 * outbound webhooks carry Messages 8–11 and 14–15 the gateway received. docs/protocol.md, "Table 8".
 */
import { z } from 'zod';
import { localPartSchema } from './ids.js';
import { domainSchema } from './across-as.js';
import { appidSchema, dataSchema, versionSchema } from './params.js';
import { nonceSchema, unixSecondsSchema } from './signature.js';
import type { ErrorStatus, Status } from './status.js';

export const THIRD_PARTY_OPERATIONS = ['push', 'exchange'] as const;
export type ThirdPartyOperation = (typeof THIRD_PARTY_OPERATIONS)[number];

/** The gateway's inbound route: `/thirdparty/<third party name>/<push|exchange>`. */
export const THIRD_PARTY_ROUTE = '/thirdparty/:name/:operation';
export function thirdPartyPath(name: string, operation: ThirdPartyOperation): string {
  return `/thirdparty/${encodeURIComponent(name)}/${operation}`;
}

/** Largest inbound body: 65 536 characters of `data`, JSON-escaped (up to 6 bytes each), and the rest. */
export const MAX_THIRD_PARTY_BODY_BYTES = 512 * 1024;

/** Codes the gateway answers a third party with, in clause 8's body shape (docs/protocol.md, Table 8). */
export const TABLE8 = [200, 400, 401, 403, 404, 413, 415, 422, 500] as const satisfies readonly Status[];
export type Table8Refusal = Exclude<(typeof TABLE8)[number], 200> & ErrorStatus;

const user = localPartSchema('user');
const device = localPartSchema('device');
const applicationServerName = z.string().regex(/^[a-z0-9-]{1,32}$/, 'to must name an application server');

/** Read before the signature is checked: who claims to call, and the values the signature covers. */
export const thirdPartyAuthSchema = z.object({
  appid: appidSchema,
  timestamp: unixSecondsSchema,
  nonce: nonceSchema,
});

const envelope = { version: versionSchema, ...thirdPartyAuthSchema.shape };

export const thirdPartyPushSchema = z.union([
  z.strictObject({ ...envelope, userid: user, data: dataSchema }),
  z.strictObject({ ...envelope, deviceid: device, data: dataSchema }),
]);

export const thirdPartyExchangeSchema = z.union([
  z.strictObject({ ...envelope, userid: user, data: dataSchema, to: applicationServerName }),
  z.strictObject({ ...envelope, deviceid: device, data: dataSchema, to: applicationServerName }),
]);

export type ThirdPartyPush = z.output<typeof thirdPartyPushSchema>;
export type ThirdPartyExchange = z.output<typeof thirdPartyExchangeSchema>;

/** The message a Table 8 request becomes. */
export function thirdPartyMessage(
  operation: ThirdPartyOperation,
  params: ThirdPartyPush | ThirdPartyExchange,
): 12 | 13 | 14 | 15 {
  const user = 'userid' in params;
  if (operation === 'push') return user ? 12 : 13;
  return user ? 14 : 15;
}

const delivery = { ...envelope, id: z.string().regex(/^\d{1,20}$/) };
const exchangeSource = { from: appidSchema, as: domainSchema.optional() };

/** The gateway's webhook body; `id` is stable across retries (the third party deduplicates with it). */
export const webhookSchema = z.discriminatedUnion('message', [
  z.strictObject({ ...delivery, message: z.literal(8), userid: user, data: dataSchema }),
  z.strictObject({ ...delivery, message: z.literal(9), deviceid: device, data: dataSchema }),
  z.strictObject({ ...delivery, message: z.literal(10), deviceid: device, type: z.literal('online') }),
  z.strictObject({ ...delivery, message: z.literal(11), deviceid: device, type: z.literal('offline') }),
  z.strictObject({ ...delivery, message: z.literal(14), userid: user, data: dataSchema, ...exchangeSource }),
  z.strictObject({
    ...delivery,
    message: z.literal(15),
    deviceid: device,
    data: dataSchema,
    ...exchangeSource,
  }),
]);
export type Webhook = z.output<typeof webhookSchema>;
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
/** What the gateway stores for a webhook; the envelope is added fresh at each attempt. */
export type WebhookEvent = DistributiveOmit<Webhook, keyof typeof delivery>;
