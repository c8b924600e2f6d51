/**
 * The operator interfaces of an application server's recorder (our addition, docs/protocol.md "The application
 * server's operator interfaces"): `POST /send` (Messages 12–15 on request) and `GET /received` (what it received).
 * Declared here so that the server and the `irsp` command read the same paths and bodies.
 */
import { z } from 'zod';
import { domainSchema } from './across-as.js';
import { MAX_DATA_LENGTH } from './params.js';

export const RECORDER_SEND_PATH = '/send';
export const RECORDER_RECEIVED_PATH = '/received';

const common = { id: z.string().min(1), data: z.string().min(1).max(MAX_DATA_LENGTH) };
const exchange = { ...common, to: z.string(), as: domainSchema.optional() };

/** `{ message, id, data, to?, as? }`: `id` a local part, `to` the target application server of 14–15. */
export const recorderSendSchema = z.discriminatedUnion('message', [
  z.object({ message: z.literal(12), ...common }),
  z.object({ message: z.literal(13), ...common }),
  z.object({ message: z.literal(14), ...exchange }),
  z.object({ message: z.literal(15), ...exchange }),
]);
export type RecorderSend = z.infer<typeof recorderSendSchema>;

/** What `/send` answers: the receiver's status, or why nothing was sent. */
export const recorderSendAnswerSchema = z.object({
  outcome: z.enum(['status', 'unexpected', 'unreachable', 'refused']),
  status: z.number().int().optional(),
  detail: z.string().optional(),
  reason: z.string().optional(),
});

export const recorderReceivedQuerySchema = z.object({
  after: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(1000).default(1000),
});

export const recorderReceivedAnswerSchema = z.object({
  received: z.array(
    z.object({
      id: z.number().int(),
      message: z.number().int(),
      operation: z.string(),
      params: z.record(z.string(), z.string()),
      delivery: z.object({ id: z.string(), attempt: z.number().int() }).nullable(),
      receivedAt: z.string(),
    }),
  ),
});

/** The URL of `/send` or `/received` (with its query) on an application server's base URL. */
export function recorderUrl(
  base: string,
  path: typeof RECORDER_SEND_PATH | typeof RECORDER_RECEIVED_PATH,
  query: z.input<typeof recorderReceivedQuerySchema> = {},
): string {
  const url = new URL(base);
  url.pathname = `${url.pathname.replace(/\/+$/, '')}${path}`;
  for (const [name, value] of Object.entries(query)) url.searchParams.set(name, String(value));
  return url.toString();
}
