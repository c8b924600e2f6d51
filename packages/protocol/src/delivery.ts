/**
 * Delivery marks (our addition, docs/protocol.md "Delivery marks"): every notification an outbox sends (Messages
 * 7–11, webhooks) carries its delivery id, the same on every attempt, and the attempt's number, so that a receiver
 * can tell a retry of something it already has and drop it. Headers, so that the messages' parameters stay those
 * of clause 8.
 */
import { z } from 'zod';

export const DELIVERY_ID_HEADER = 'irsp-delivery-id';
export const DELIVERY_ATTEMPT_HEADER = 'irsp-delivery-attempt';

export interface DeliveryMark {
  id: string;
  /** 1 on the first attempt; n when n − 1 earlier attempts may have reached the receiver. */
  attempt: number;
}

const markSchema = z.object({
  // Visible ASCII, as a header value without quoting; long enough for `<table>/<row id>@<uuid>`.
  id: z.string().regex(/^[\x21-\x7e]{1,200}$/),
  attempt: z
    .string()
    .regex(/^[1-9][0-9]{0,8}$/)
    .transform(Number),
});

export function deliveryHeaders(mark: DeliveryMark): Record<string, string> {
  return { [DELIVERY_ID_HEADER]: mark.id, [DELIVERY_ATTEMPT_HEADER]: String(mark.attempt) };
}

/**
 * The mark of a request (lower-case header names, as Node gives them): undefined when there is none, or when it
 * is malformed (the message itself is still good: the mark is an addition, not a condition).
 */
export function readDeliveryMark(
  headers: Record<string, string | string[] | undefined>,
): DeliveryMark | undefined {
  const parsed = markSchema.safeParse({
    id: headers[DELIVERY_ID_HEADER],
    attempt: headers[DELIVERY_ATTEMPT_HEADER],
  });
  return parsed.success ? parsed.data : undefined;
}
