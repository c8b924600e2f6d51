/**
 * Table 2: the data the RAS pushes to a RAC unasked, as the `data` of IRSP Message 12. Our design; the standard's
 * text is not available (docs/smartlock.md). Each event carries exactly the fields it needs (one strict schema per
 * event) rather than one shape with every field optional, so a RAC never has to guess which fields are set.
 */
import { z } from 'zod';
import {
  batterySchema,
  boltStateSchema,
  deviceIdSchema,
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
  requestIdSchema,
  type ParseResult,
} from './message.js';
import { statusCodeSchema } from './status.js';

export const pushSchema = z.discriminatedUnion('event', [
  /** The bolt moved or was found in a state (also by hand, with a key). */
  eventSchema('lockState', { lockId: lockIdSchema, state: boltStateSchema, battery: batterySchema }),
  /**
   * The outcome of the lockControl request `requestId`: a Table 1 status, and the bolt and battery when the lock
   * answered.
   */
  eventSchema('commandResult', {
    lockId: lockIdSchema,
    requestId: requestIdSchema,
    action: lockActionSchema,
    status: statusCodeSchema,
    state: boltStateSchema.optional(),
    battery: batterySchema.optional(),
  }),
  eventSchema('accessGranted', {
    lockId: lockIdSchema,
    grantee: userIdSchema,
    from: timestampSchema,
    until: timestampSchema,
  }).refine((w) => Date.parse(w.from) < Date.parse(w.until), { message: 'from must be before until' }),
  eventSchema('accessRevoked', { lockId: lockIdSchema, grantee: userIdSchema }),
  eventSchema('lockRegistered', { lockId: lockIdSchema, gatewayId: deviceIdSchema }),
  eventSchema('lockRemoved', { lockId: lockIdSchema }),
  eventSchema('gatewayOnline', { gatewayId: deviceIdSchema }),
  eventSchema('gatewayOffline', { gatewayId: deviceIdSchema }),
  eventSchema('batteryLow', { lockId: lockIdSchema, battery: batterySchema }),
]);

export type Push = z.output<typeof pushSchema>;
export type PushEvent = Push['event'];
export type PushOf<E extends PushEvent> = Extract<Push, { event: E }>;
/** A push as given to buildPush: everything but the version. */
export type PushData = { [E in PushEvent]: Omit<PushOf<E>, 'version'> }[PushEvent];
export const PUSH_EVENTS = pushSchema.options.map((option) => option.shape.event.value);

/** Parses push data; never throws. */
export function parsePush(text: string): ParseResult<Push> {
  return parseVersioned(text, pushSchema);
}

/** JSON text of a push; throws MessageError when parsePush would refuse it. */
export function buildPush(push: PushData): string {
  const text = JSON.stringify({ version: MESSAGE_VERSION, ...push });
  return acceptedText(text, parsePush(text));
}
