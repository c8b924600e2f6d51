/**
 * Table 2: the data the RAS pushes to a RAC unasked, as the `data` of IRSP Message 12. Our design; the standard's
 * text is not available (docs/smartlock.md). Each event carries exactly the fields it needs (one strict schema per
 * event) rather than one shape with every field optional, so a RAC never has to guess which fields are set.
 */
import { z } from 'zod';
import {
  batterySchema,
  boltStateSchema,
  describeIssue,
  deviceIdSchema,
  lockActionSchema,
  lockIdSchema,
  timestampSchema,
  userIdSchema,
} from './fields.js';
import {
  MESSAGE_VERSION,
  MessageError,
  readVersionedObject,
  requestIdSchema,
  type ParseResult,
} from './message.js';
import { STATUS, statusCodeSchema } from './status.js';

const event = <E extends string, T extends z.ZodRawShape>(name: E, shape: T) =>
  z.strictObject({
    version: z.literal(MESSAGE_VERSION),
    event: z.literal(name),
    ...shape,
    at: timestampSchema,
  });

export const pushSchema = z.discriminatedUnion('event', [
  /** The bolt moved or was found in a state (also by hand, with a key). */
  event('lockState', { lockId: lockIdSchema, state: boltStateSchema, battery: batterySchema }),
  /**
   * The outcome of the lockControl request `requestId`: a Table 1 status, and the bolt and battery when the lock
   * answered.
   */
  event('commandResult', {
    lockId: lockIdSchema,
    requestId: requestIdSchema,
    action: lockActionSchema,
    status: statusCodeSchema,
    state: boltStateSchema.optional(),
    battery: batterySchema.optional(),
  }),
  event('accessGranted', {
    lockId: lockIdSchema,
    grantee: userIdSchema,
    from: timestampSchema,
    until: timestampSchema,
  }).refine((w) => Date.parse(w.from) < Date.parse(w.until), { message: 'from must be before until' }),
  event('accessRevoked', { lockId: lockIdSchema, grantee: userIdSchema }),
  event('lockRegistered', { lockId: lockIdSchema, gatewayId: deviceIdSchema }),
  event('lockRemoved', { lockId: lockIdSchema }),
  event('gatewayOnline', { gatewayId: deviceIdSchema }),
  event('gatewayOffline', { gatewayId: deviceIdSchema }),
  event('batteryLow', { lockId: lockIdSchema, battery: batterySchema }),
]);

export type Push = z.output<typeof pushSchema>;
export type PushEvent = Push['event'];
export type PushOf<E extends PushEvent> = Extract<Push, { event: E }>;
/** A push as given to buildPush: everything but the version. */
export type PushData = { [E in PushEvent]: Omit<PushOf<E>, 'version'> }[PushEvent];
export const PUSH_EVENTS = pushSchema.options.map((option) => option.shape.event.value);

/** Parses push data; never throws. */
export function parsePush(text: string): ParseResult<Push> {
  const object = readVersionedObject(text);
  if (!object.ok) return object;
  const parsed = pushSchema.safeParse(object.value);
  if (!parsed.success)
    return { ok: false, error: { status: STATUS.malformed.code, detail: describeIssue(parsed.error) } };
  return { ok: true, value: parsed.data };
}

/** JSON text of a push; throws MessageError when parsePush would refuse it. */
export function buildPush(push: PushData): string {
  const text = JSON.stringify({ version: MESSAGE_VERSION, ...push });
  const parsed = parsePush(text);
  if (!parsed.ok) throw new MessageError(parsed.error.status, parsed.error.detail);
  return text;
}
