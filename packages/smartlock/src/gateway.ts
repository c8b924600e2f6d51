/**
 * What the RAS and a BGW say to each other (clause 6.4, Figure 5; our design): JSON carried as the `data` of IRSP
 * Message 13 (RAS → BGW, a push to the device) and Message 9 (BGW → RAS, the device's upload). The BGW is an IRSP
 * device of the RAS's AS, so who speaks is known from the transport. Frames (clause 8) travel base64-encoded and
 * sealed: the BGW relays them to and from the BSLD without being able to read or change them.
 */
import { z } from 'zod';
import { describeIssue, lockIdSchema, userIdSchema } from './fields.js';
import { HEADER_BYTES, MAX_FRAME_BYTES, TAG_BYTES } from './frames.js';
import { MESSAGE_VERSION, readVersionedObject, requestIdSchema, type ParseResult } from './message.js';
import { STATUS } from './status.js';

/** A sealed frame in base64: between the smallest and the largest frame. */
const frameBase64 = z
  .string()
  .regex(/^[A-Za-z0-9+/]+={0,2}$/, 'frame must be base64')
  .refine((text) => {
    const bytes = Buffer.from(text, 'base64').length;
    return bytes >= HEADER_BYTES + TAG_BYTES && bytes <= MAX_FRAME_BYTES;
  }, 'frame has an impossible length');

const message = <T extends string, S extends z.ZodRawShape>(type: T, shape: S) =>
  z.strictObject({ version: z.literal(MESSAGE_VERSION), type: z.literal(type), ...shape });

/** RAS → BGW (Message 13). */
export const toGatewaySchema = z.discriminatedUnion('type', [
  /** Scan for BSLDs for `seconds`, then answer `scanResult`. */
  message('scan', { requestId: requestIdSchema, seconds: z.number().int().min(1).max(60) }),
  /** Hand `frame` to the lock `lockId` and upload its answer as `frame`, or `unreachable`. */
  message('frame', { requestId: requestIdSchema, lockId: lockIdSchema, frame: frameBase64 }),
]);

/** BGW → RAS (Message 9). */
export const fromGatewaySchema = z.discriminatedUnion('type', [
  /** At login and whenever it changes: the user who owns the gateway (its IRSP owner, 14543-5-8 §9), or none. */
  message('hello', { owner: userIdSchema.nullable() }),
  message('scanResult', {
    requestId: requestIdSchema,
    locks: z
      .array(z.strictObject({ lockId: lockIdSchema, rssi: z.number().int().min(-127).max(20) }))
      .max(32),
  }),
  message('frame', { requestId: requestIdSchema, lockId: lockIdSchema, frame: frameBase64 }),
  /** The lock did not answer over Bluetooth. */
  message('unreachable', { requestId: requestIdSchema, lockId: lockIdSchema }),
]);

export type ToGateway = z.output<typeof toGatewaySchema>;
export type FromGateway = z.output<typeof fromGatewaySchema>;

function parseWith<T>(schema: z.ZodType<T>, text: string): ParseResult<T> {
  const object = readVersionedObject(text);
  if (!object.ok) return object;
  const parsed = schema.safeParse(object.value);
  return parsed.success
    ? { ok: true, value: parsed.data }
    : { ok: false, error: { status: STATUS.malformed.code, detail: describeIssue(parsed.error) } };
}

export const parseToGateway = (text: string): ParseResult<ToGateway> => parseWith(toGatewaySchema, text);
export const parseFromGateway = (text: string): ParseResult<FromGateway> =>
  parseWith(fromGatewaySchema, text);

type WithoutVersion<T> = T extends unknown ? Omit<T, 'version'> : never;

/** JSON text of a message to or from a gateway; throws a ZodError on what its parser would refuse. */
export function buildToGateway(message: WithoutVersion<ToGateway>): string {
  return JSON.stringify(toGatewaySchema.parse({ version: MESSAGE_VERSION, ...message }));
}

export function buildFromGateway(message: WithoutVersion<FromGateway>): string {
  return JSON.stringify(fromGatewaySchema.parse({ version: MESSAGE_VERSION, ...message }));
}
