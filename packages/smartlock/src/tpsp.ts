/**
 * Clause 6.6: what a third-party service platform (TPSP, e.g. a holiday-rental service) and the RAS say to each
 * other. Our design; the standard's text is not available (docs/smartlock.md, "The TPSP"). Both travel through the
 * IRSP's gateway to third-party servers (clause 8.8): a TPSP's request is the `data` of the Message 14 the gateway
 * makes of its signed call, and an event for it is the `data` of a Message 14 the RAS sends to the gateway, which
 * posts it to the TPSP as a signed webhook. In both, the Message 14's user is the lock's owner, who linked the lock
 * to that TPSP; the TPSP's name is vouched for by the gateway, never read from these bodies.
 */
import { z } from 'zod';
import {
  batterySchema,
  boltStateSchema,
  describeIssue,
  lockActionSchema,
  lockIdSchema,
  timestampSchema,
  userIdSchema,
} from './fields.js';
import {
  MESSAGE_VERSION,
  acceptedText,
  eventSchema,
  parseVersioned,
  readVersionedObject,
  requestIdSchema,
  type ParseResult,
} from './message.js';
import { STATUS, statusByCode, statusCodeSchema } from './status.js';

/** The TPSP's requests, by `operation`. */
export const TPSP_OPERATIONS = {
  /** A guest may operate the lock from `from` (inclusive) until `until` (exclusive), as if the owner shared it. */
  guestGrant: z
    .strictObject({
      lockId: lockIdSchema,
      guest: userIdSchema,
      from: timestampSchema,
      until: timestampSchema,
    })
    .refine((w) => Date.parse(w.from) < Date.parse(w.until), { message: 'from must be before until' }),
  /** Withdraws a grant this TPSP made (not one the owner made). */
  guestRevoke: z.strictObject({ lockId: lockIdSchema, guest: userIdSchema }),
} as const;

export type TpspOperation = keyof typeof TPSP_OPERATIONS;
const TPSP_OPERATION_NAMES = Object.keys(TPSP_OPERATIONS) as [TpspOperation, ...TpspOperation[]];

const request = <O extends TpspOperation>(operation: O) =>
  z.strictObject({
    version: z.literal(MESSAGE_VERSION),
    id: requestIdSchema,
    operation: z.literal(operation),
    timestamp: timestampSchema,
    body: TPSP_OPERATIONS[operation],
  });

const tpspRequestSchema = z.discriminatedUnion('operation', [request('guestGrant'), request('guestRevoke')]);

export type TpspRequest = z.output<typeof tpspRequestSchema>;

/** What the RAS tells a TPSP about the locks linked to it. */
export const tpspEventSchema = z
  .discriminatedUnion('event', [
    /** The owner linked the lock to this TPSP: its requests for the lock are now taken. */
    eventSchema('lockLinked', { lockId: lockIdSchema, owner: userIdSchema }),
    /** The owner unlinked it (or removed the lock): nothing more is taken or told for it. */
    eventSchema('lockUnlinked', { lockId: lockIdSchema, owner: userIdSchema }),
    /** Someone locked or unlocked the lock (or tried): the Table 1 outcome, and the bolt when the lock answered. */
    eventSchema('lockOperated', {
      lockId: lockIdSchema,
      userId: userIdSchema,
      action: lockActionSchema,
      status: statusCodeSchema,
      state: boltStateSchema.optional(),
    }),
    eventSchema('batteryLow', { lockId: lockIdSchema, battery: batterySchema }),
    /** The outcome of this TPSP's request `requestId`. */
    eventSchema('requestResult', {
      requestId: requestIdSchema.nullable(),
      operation: z.enum(TPSP_OPERATION_NAMES).nullable(),
      status: statusCodeSchema,
      message: z.string(),
    }),
  ])
  .superRefine((e, ctx) => {
    if (e.event === 'requestResult' && e.message !== statusByCode(e.status)?.message)
      ctx.addIssue({ code: 'custom', path: ['message'], message: 'not the Table 1 text of the status' });
  });

export type TpspEvent = z.output<typeof tpspEventSchema>;
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
export type TpspEventData = DistributiveOmit<TpspEvent, 'version'>;
export type TpspRequestData = DistributiveOmit<TpspRequest, 'version'>;

/** Parses a TPSP's request; never throws. */
export function parseTpspRequest(text: string): ParseResult<TpspRequest> {
  const object = readVersionedObject(text);
  if (!object.ok) return object;
  const operation = object.value.operation;
  if (typeof operation !== 'string' || !Object.hasOwn(TPSP_OPERATIONS, operation))
    return { ok: false, error: { status: STATUS.unknownOperation.code, detail: 'operation: unknown' } };
  const parsed = tpspRequestSchema.safeParse(object.value);
  if (!parsed.success)
    return { ok: false, error: { status: STATUS.malformed.code, detail: describeIssue(parsed.error) } };
  return { ok: true, value: parsed.data };
}

/** Parses an event for a TPSP; never throws. */
export function parseTpspEvent(text: string): ParseResult<TpspEvent> {
  return parseVersioned(text, tpspEventSchema);
}

/** JSON text of a TPSP request; throws MessageError when parseTpspRequest would refuse it. */
export function buildTpspRequest(tpspRequest: TpspRequestData): string {
  const text = JSON.stringify({ version: MESSAGE_VERSION, ...tpspRequest });
  return acceptedText(text, parseTpspRequest(text));
}

/** JSON text of an event for a TPSP; throws MessageError when parseTpspEvent would refuse it. */
export function buildTpspEvent(event: TpspEventData): string {
  const text = JSON.stringify({ version: MESSAGE_VERSION, ...event });
  return acceptedText(text, parseTpspEvent(text));
}
