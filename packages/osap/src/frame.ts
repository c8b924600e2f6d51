/**
 * Section 6: the control messages between a device and the LBS (load balancing service) over TCP+TLS.
 *
 *   fixed header       type (Table 3) and control flag, remaining length          (fixed-header.ts)
 *   variable header    per type: see VARIABLE HEADERS below
 *   general payload    LEN (2 bytes), then PROTOCOL-VERSION (3 bytes) and the transaction content (Figure 3)
 *
 * Figure 2 gives the general payload as LEN + content, Figure 3 splits that content into Version and transaction
 * content for the authentication process. Figure 3 also prints an application payload "PROTOCOL-VERSION, 3 bytes":
 * we read it as a misprinted repeat of the Version column, so control messages carry no application payload.
 */
import { z } from 'zod';
import { Reader, bytesSchema, concat, decodeUtf8 } from './bytes.js';
import { describeIssue, fail, ok, OsapError, type OsapResult } from './errors.js';
import { decodeFixedHeader, encodeFixedHeader } from './fixed-header.js';
import { LEN_BYTES, MAX_GENERAL_BYTES, decodePayload, encodePayload } from './general-payload.js';
import {
  PROTOCOL_VERSION_BYTES,
  encodeProtocolVersion,
  isSupportedVersion,
  protocolVersionSchema,
} from './version.js';

/**
 * Table 3 (the second table titled "Protocol version definition", which defines the ECDH control message types).
 * The names are the draft's; 0x8 is printed "…_Rsq", a typo for "…_Rsp" (docs/osap.md). 0xA and 0xB are our
 * addition: section 7 sends "F1: Request for getting a device access service address" and "F2: Return a device
 * access service information" on the same connection but gives them no type; we take the next free values
 * rather than the reserved 0x3 and 0x5, which a later draft may define.
 */
export const CONTROL_MESSAGE_TYPES = {
  Authentication_ECDH_Req: 0x1,
  Authentication_ECDH_Rsp: 0x2,
  Refresh_SessionKey_Req: 0x4,
  Refresh_SessionKey_Rsp: 0x6,
  Authentication_apply_devid_Req: 0x7,
  Authentication_apply_devid_Rsp: 0x8,
  Authentication_apply_devid_Cfm: 0x9,
  Get_AccessService_Req: 0xa,
  Get_AccessService_Rsp: 0xb,
} as const;
export type ControlMessageType = keyof typeof CONTROL_MESSAGE_TYPES;
export const CONTROL_MESSAGE_TYPE_NAMES = Object.keys(CONTROL_MESSAGE_TYPES) as ControlMessageType[];
/** Table 3's "Rsrv": refused, never sent. */
export const RESERVED_CONTROL_MESSAGE_TYPES: readonly number[] = [0x3, 0x5];

/**
 * Section 6: "Bit1 of the control flag … when Bit1 is 1, it means that the ECDH key mode is used". We number bits
 * from 1 at the least significant, so Bit1 is 0x1 — the value every figure prints ("Control Flag:0x1") for the
 * ECDH exchange. The other three bits are reserved: sent as 0, ignored when read.
 */
export const CONTROL_FLAG_ECDH = 0x1;

/** The possible members of a protocol group: the bits of its one byte (docs/osap.md, choice 9). */
const PROTOCOL_GROUP_MEMBERS = [1, 2, 4, 8, 16, 32, 64, 128] as const;
export type ProtocolGroupMember = (typeof PROTOCOL_GROUP_MEMBERS)[number];

/**
 * Figures 4–5: "Protocol Group:(1,2,4,8)". The members are powers of two, so a group travels as one byte, each
 * member a bit; the array lists them in ascending order.
 */
export const protocolGroupSchema = z
  .array(z.union(PROTOCOL_GROUP_MEMBERS.map((m) => z.literal(m))))
  .min(1)
  .refine((group) => group.every((m, i) => i === 0 || group[i - 1]! < m), 'members ascending, each once');
export type ProtocolGroup = z.output<typeof protocolGroupSchema>;
export const protocolTypeSchema = z.number().int().min(0).max(255);

export const groupToByte = (group: readonly number[]): number => group.reduce((byte, m) => byte | m, 0);
export const byteToGroup = (byte: number): ProtocolGroup =>
  PROTOCOL_GROUP_MEMBERS.filter((m) => (byte & m) !== 0);

export const MAX_IDENTIFIER_BYTES = 64;
/**
 * A device serial number or a DevID as it travels in a variable header: 1–64 printable ASCII characters (our
 * bound; the draft gives none). ASCII keeps "verification code + device serial number" free of Unicode
 * normalisation questions.
 */
export const identifierSchema = z
  .string()
  .regex(/^[\x21-\x7e]{1,64}$/, `1–${MAX_IDENTIFIER_BYTES} printable ASCII characters`);

const common = {
  controlFlag: z.number().int().min(0).max(15),
  version: protocolVersionSchema,
  /** The transaction content, as sent (sealed by messages.ts). */
  transaction: bytesSchema,
};
const frameOf = <T extends ControlMessageType, S extends z.ZodRawShape>(type: T, shape: S) =>
  z.strictObject({ type: z.literal(type), ...common, ...shape });

/**
 * VARIABLE HEADERS (section 5: "different control message has different variable headers"; the draft gives only
 * the negotiation fields of Figures 4–5, the rest is ours): what the receiver must read before it can choose a key.
 *   Authentication_ECDH_Req   protocol type (1), protocol group (1), serial number (1 + n): the LBS finds the
 *                             device's verification code by its serial number, to derive the share key
 *   Authentication_ECDH_Rsp   protocol type (1), protocol group (1)
 *   Refresh_SessionKey_Req    DevID (1 + n): the LBS finds the master key by the DevID
 *   the others                empty (the connection already knows the key)
 */
export const frameSchema = z.discriminatedUnion('type', [
  frameOf('Authentication_ECDH_Req', {
    protocolType: protocolTypeSchema,
    protocolGroup: protocolGroupSchema,
    serialNumber: identifierSchema,
  }),
  frameOf('Authentication_ECDH_Rsp', {
    protocolType: protocolTypeSchema,
    protocolGroup: protocolGroupSchema,
  }),
  frameOf('Refresh_SessionKey_Req', { devId: identifierSchema }),
  frameOf('Refresh_SessionKey_Rsp', {}),
  frameOf('Authentication_apply_devid_Req', {}),
  frameOf('Authentication_apply_devid_Rsp', {}),
  frameOf('Authentication_apply_devid_Cfm', {}),
  frameOf('Get_AccessService_Req', {}),
  frameOf('Get_AccessService_Rsp', {}),
]);
export type Frame = z.output<typeof frameSchema>;
export type FrameOf<T extends ControlMessageType> = Extract<Frame, { type: T }>;

const MAX_VARIABLE_HEADER_BYTES = 3 + MAX_IDENTIFIER_BYTES;
export const MAX_TRANSACTION_BYTES = MAX_GENERAL_BYTES - PROTOCOL_VERSION_BYTES;
/** The longest control message: a stream reader refuses a remaining length above it before buffering. */
export const MAX_FRAME_BYTES = 5 + MAX_VARIABLE_HEADER_BYTES + LEN_BYTES + MAX_GENERAL_BYTES;

const identifier = (text: string) => {
  const bytes = new TextEncoder().encode(text);
  return concat([Uint8Array.of(bytes.length), bytes]);
};

function encodeVariableHeader(frame: Frame): Uint8Array {
  switch (frame.type) {
    case 'Authentication_ECDH_Req':
      return concat([
        Uint8Array.of(frame.protocolType, groupToByte(frame.protocolGroup)),
        identifier(frame.serialNumber),
      ]);
    case 'Authentication_ECDH_Rsp':
      return Uint8Array.of(frame.protocolType, groupToByte(frame.protocolGroup));
    case 'Refresh_SessionKey_Req':
      return identifier(frame.devId);
    default:
      return new Uint8Array(0);
  }
}

/** The bytes of a control message; throws OsapError('invalid-input') on values outside the schema. */
export function buildFrame(input: Frame): Uint8Array {
  const parsed = frameSchema.safeParse(input);
  if (!parsed.success) throw new OsapError('invalid-input', describeIssue(parsed.error));
  const frame = parsed.data;
  if (frame.transaction.length > MAX_TRANSACTION_BYTES)
    throw new OsapError('invalid-input', `transaction content longer than ${MAX_TRANSACTION_BYTES} bytes`);
  const rest = concat([
    encodeVariableHeader(frame),
    encodePayload({
      general: concat([encodeProtocolVersion(frame.version), frame.transaction]),
      application: new Uint8Array(0),
    }),
  ]);
  return concat([encodeFixedHeader(CONTROL_MESSAGE_TYPES[frame.type], frame.controlFlag, rest.length), rest]);
}

const typeOf = (code: number): OsapResult<ControlMessageType> => {
  const name = CONTROL_MESSAGE_TYPE_NAMES.find((n) => CONTROL_MESSAGE_TYPES[n] === code);
  if (name !== undefined) return ok(name);
  if (RESERVED_CONTROL_MESSAGE_TYPES.includes(code))
    return fail('reserved-type', `control message type 0x${code.toString(16)} is reserved`);
  return fail('unknown-type', `control message type 0x${code.toString(16)} is not defined`);
};

/**
 * How long the control message at the start of the bytes is, for a stream reader: the length when all of it is
 * there, undefined while more bytes are needed, an error (the connection should close) when it can never be one.
 */
export function frameLength(bytes: Uint8Array): OsapResult<number | undefined> {
  const header = decodeFixedHeader(bytes);
  if (!header.ok) return header.error.code === 'truncated' ? ok(undefined) : header;
  const total = header.value.length + header.value.remainingLength;
  if (total > MAX_FRAME_BYTES)
    return fail('too-long', `a control message is at most ${MAX_FRAME_BYTES} bytes`);
  return ok(bytes.length >= total ? total : undefined);
}

function decodeVariableHeader(type: ControlMessageType, reader: Reader): Record<string, unknown> | undefined {
  const text = () => {
    const length = reader.byte();
    const bytes = length === undefined ? undefined : reader.take(length);
    return bytes && decodeUtf8(bytes);
  };
  switch (type) {
    case 'Authentication_ECDH_Req': {
      const protocolType = reader.byte();
      const group = reader.byte();
      return {
        protocolType,
        protocolGroup: group === undefined ? undefined : byteToGroup(group),
        serialNumber: text(),
      };
    }
    case 'Authentication_ECDH_Rsp': {
      const protocolType = reader.byte();
      const group = reader.byte();
      return { protocolType, protocolGroup: group === undefined ? undefined : byteToGroup(group) };
    }
    case 'Refresh_SessionKey_Req':
      return { devId: text() };
    default:
      return {};
  }
}

/**
 * Parses exactly one control message (the bytes frameLength measured). Never throws; refuses trailing bytes, a
 * FORM_VERSION or HIGH_TYPE_VERSION we do not speak, and a control flag without Bit1 (ECDH mode).
 */
export function parseFrame(bytes: Uint8Array): OsapResult<Frame> {
  if (!(bytes instanceof Uint8Array)) return fail('malformed', 'not bytes');
  if (bytes.length > MAX_FRAME_BYTES) return fail('too-long', `longer than ${MAX_FRAME_BYTES} bytes`);
  const header = decodeFixedHeader(bytes);
  if (!header.ok) return header;
  const { length, remainingLength, controlFlag } = header.value;
  if (length + remainingLength > bytes.length) return fail('truncated', 'shorter than its remaining length');
  if (length + remainingLength < bytes.length) return fail('malformed', 'bytes after the control message');
  const type = typeOf(header.value.type);
  if (!type.ok) return type;
  if ((controlFlag & CONTROL_FLAG_ECDH) === 0)
    return fail('unsupported-mode', 'control flag Bit1 is 0: only the ECDH mode is described');
  const reader = new Reader(bytes.subarray(length));
  const fields = decodeVariableHeader(type.value, reader);
  const payload = decodePayload(reader.take(reader.rest)!);
  if (!payload.ok) return payload;
  if (payload.value.application.length > 0) return fail('malformed', 'bytes after the general payload');
  const general = payload.value.general;
  if (general.length < PROTOCOL_VERSION_BYTES) return fail('malformed', 'no PROTOCOL-VERSION');
  const version = {
    FORM_VERSION: general[0]!,
    HIGH_TYPE_VERSION: general[1]!,
    LOW_TYPE_VERSION: general[2]!,
  };
  if (!isSupportedVersion(version))
    return fail('unsupported-version', `PROTOCOL-VERSION ${general[0]}.${general[1]}.${general[2]}`);
  const parsed = frameSchema.safeParse({
    type: type.value,
    controlFlag,
    version,
    transaction: general.slice(PROTOCOL_VERSION_BYTES),
    ...fields,
  });
  if (!parsed.success) return fail('malformed', describeIssue(parsed.error));
  return ok(parsed.data);
}
