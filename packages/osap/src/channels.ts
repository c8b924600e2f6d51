/**
 * What the bodies of business payloads on the attribute and operation channels hold (our choice: the draft names
 * the channels of Figure 1 and gives no format; docs/osap.md, "The bridge"; decision 0027). Each is UTF-8 JSON:
 *
 * - `operation/down` (platform → device): `{"id", "from", "data"}` — an operation id the device repeats in its
 *   result, who asked (a user's or device's bare JID, or an application server's address) and the request's text;
 * - `operation/up` (device → platform): `{"id", "data"}` — the result of the operation `id`;
 * - `attribute/up` (device → platform): `{"<name>": value, …}` — the attributes that changed, each a string, a
 *   number or a boolean, kept as text.
 *
 * Events (`event/up`) stay plain UTF-8 text (decision 0022).
 */
import { z } from 'zod';
import { fail, ok, type OsapResult } from './errors.js';

/** The most characters of an operation's or a result's text (the `data` of Messages 9 and 13). */
export const MAX_OPERATION_DATA = 65_536;
/** The most attributes one report may carry, and the longest value. */
export const MAX_ATTRIBUTES_PER_REPORT = 64;
export const MAX_ATTRIBUTE_VALUE = 1024;

export const operationIdSchema = z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'an operation id');
export const attributeNameSchema = z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'an attribute name');

export const operationDownSchema = z
  .object({
    id: operationIdSchema,
    from: z.string().min(1).max(3071),
    data: z.string().max(MAX_OPERATION_DATA),
  })
  .strict();
export type OperationDown = z.output<typeof operationDownSchema>;

export const operationResultSchema = z
  .object({ id: operationIdSchema, data: z.string().max(MAX_OPERATION_DATA) })
  .strict();
export type OperationResult = z.output<typeof operationResultSchema>;

export const attributeReportSchema = z
  .record(attributeNameSchema, z.union([z.string(), z.number(), z.boolean()]))
  .refine((report) => {
    const n = Object.keys(report).length;
    return n >= 1 && n <= MAX_ATTRIBUTES_PER_REPORT;
  }, `1 to ${MAX_ATTRIBUTES_PER_REPORT} attributes`)
  .transform((report) => Object.entries(report).map(([name, value]) => ({ name, value: String(value) })))
  .refine(
    (attributes) => attributes.every((a) => a.value.length <= MAX_ATTRIBUTE_VALUE),
    `values of at most ${MAX_ATTRIBUTE_VALUE} characters`,
  );
export type AttributeReport = z.output<typeof attributeReportSchema>;

const utf8 = new TextDecoder('utf-8', { fatal: true });
const encoder = new TextEncoder();

/** A channel body: UTF-8 JSON of `schema`, or why not. */
export function parseChannelBody<T extends z.ZodType>(schema: T, body: Uint8Array): OsapResult<z.output<T>> {
  let json: unknown;
  try {
    json = JSON.parse(utf8.decode(body));
  } catch {
    return fail('malformed', 'not UTF-8 JSON');
  }
  const parsed = schema.safeParse(json);
  return parsed.success ? ok(parsed.data) : fail('malformed', parsed.error.issues[0]?.message ?? 'invalid');
}

export const channelBody = (value: OperationDown | OperationResult | Record<string, unknown>): Uint8Array =>
  encoder.encode(JSON.stringify(value));
