/**
 * Clause 8 and Tables 3–8: the byte frames between BGW and BSLD, which the RAS seals and the BGW relays unread.
 * Our design; the standard's text is not available (docs/smartlock.md has the layout byte by byte).
 *
 *   offset  length  field
 *        0       1  magic (high nibble 0xA) and version (low nibble 1): 0xA1
 *        1       1  frame type (FRAME_TYPES)
 *        2       8  lock ID
 *       10       1  key ID (the lock's key generation)
 *       11       4  counter, uint32 big-endian, per lock, increasing (a response echoes its request's)
 *       15       4  deadline, uint32 big-endian Unix seconds (a response echoes its request's)
 *       19       2  payload length n, uint16 big-endian
 *       21      13  nonce (the CCM nonce, random per frame)
 *       34       n  payload, AES-128-CCM encrypted
 *     34+n      16  CCM authentication tag
 *
 * The 34 header bytes are the CCM associated data. Only the magic, version and length are read before the tag is
 * checked: everything else, the frame type included, is believed only once authenticated.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { z } from 'zod';
import {
  LOCK_ID_BYTES,
  MAX_UNIX_SECONDS,
  batterySchema,
  boltStateSchema,
  describeIssue,
  lockActionSchema,
  lockIdSchema,
  userIdSchema,
} from './fields.js';
import { statusCodeSchema } from './status.js';

export const FRAME_MAGIC = 0xa;
export const FRAME_VERSION = 1;
export const KEY_BYTES = 16;
export const NONCE_BYTES = 13;
/** The full 128-bit CCM tag: 8 more bytes per frame buy full-strength integrity for a command that opens a door. */
export const TAG_BYTES = 16;
export const HEADER_BYTES = 34;
export const MAX_USER_ID_BYTES = 255;
/** The largest payload: action or mode, ID length, ID. */
export const MAX_PAYLOAD_BYTES = 2 + MAX_USER_ID_BYTES;
export const MAX_FRAME_BYTES = HEADER_BYTES + MAX_PAYLOAD_BYTES + TAG_BYTES;

const OFFSET = { type: 1, lockId: 2, keyId: 10, counter: 11, deadline: 15, length: 19, nonce: 21 } as const;

/** Requests are odd, each response the request's type plus one. */
export const FRAME_TYPES = {
  writeUserAccountIdRequest: 0x01, // Table 3
  writeUserAccountIdResponse: 0x02, // Table 4
  authenticateUserAccountIdRequest: 0x03, // Table 5
  authenticateUserAccountIdResponse: 0x04, // Table 6
  lockOperationRequest: 0x05, // Table 7
  lockOperationResponse: 0x06, // Table 8
} as const;
export type FrameType = keyof typeof FRAME_TYPES;

const WRITE_MODES = { add: 0x01, remove: 0x02 } as const;
const ACTIONS = { lock: 0x01, unlock: 0x02 } as const;
const BOLT_STATES = { locked: 0x01, unlocked: 0x02, jammed: 0x03 } as const;

const uint32 = z.number().int().min(0).max(MAX_UNIX_SECONDS);
const nonceSchema = z.string().regex(/^[0-9a-f]{26}$/, 'nonce must be 26 lower-case hex digits');
/** A user account ID as a lock stores it: a user ID of at most 255 UTF-8 bytes (one length byte). */
export const frameUserIdSchema = userIdSchema.refine(
  (id) => Buffer.byteLength(id, 'utf8') <= MAX_USER_ID_BYTES,
  `user account ID longer than ${MAX_USER_ID_BYTES} UTF-8 bytes`,
);

const header = {
  lockId: lockIdSchema,
  keyId: z.number().int().min(0).max(255),
  counter: uint32,
  deadline: uint32,
  nonce: nonceSchema,
};
const frame = <T extends FrameType, S extends z.ZodRawShape>(type: T, shape: S) =>
  z.strictObject({ type: z.literal(type), ...header, ...shape });

export const frameSchema = z.discriminatedUnion('type', [
  frame('writeUserAccountIdRequest', { mode: z.enum(['add', 'remove']), userId: frameUserIdSchema }),
  frame('writeUserAccountIdResponse', { status: statusCodeSchema }),
  frame('authenticateUserAccountIdRequest', { userId: frameUserIdSchema }),
  frame('authenticateUserAccountIdResponse', { status: statusCodeSchema }),
  frame('lockOperationRequest', { action: lockActionSchema, userId: frameUserIdSchema }),
  frame('lockOperationResponse', {
    status: statusCodeSchema,
    bolt: boltStateSchema,
    battery: batterySchema,
  }),
]);

export type Frame = z.output<typeof frameSchema>;
export type FrameOf<T extends FrameType> = Extract<Frame, { type: T }>;
/** A frame to seal; without a nonce, a random one is drawn (give one only for test vectors). */
export type FrameInput = { [T in FrameType]: Omit<FrameOf<T>, 'nonce'> & { nonce?: string } }[FrameType];

export type FrameErrorKind =
  'malformed' | 'unsupported-version' | 'too-long' | 'integrity' | 'invalid-key' | 'invalid-frame';

export class FrameError extends Error {
  override readonly name = 'FrameError';
  constructor(
    readonly kind: FrameErrorKind,
    readonly detail: string,
  ) {
    super(`${kind}: ${detail}`);
  }
}

export type FrameResult<T> = { ok: true; value: T } | { ok: false; error: FrameError };
const fail = (kind: FrameErrorKind, detail: string): { ok: false; error: FrameError } => ({
  ok: false,
  error: new FrameError(kind, detail),
});

const isKey = (key: unknown): key is Uint8Array => key instanceof Uint8Array && key.length === KEY_BYTES;
const keyOf = <T extends Record<string, number>>(table: T, byte: number) =>
  (Object.keys(table) as (keyof T & string)[]).find((name) => table[name] === byte);

function encodePayload(frame: Frame): Buffer {
  const userId = (id: string) => {
    const bytes = Buffer.from(id, 'utf8');
    return Buffer.concat([Buffer.of(bytes.length), bytes]);
  };
  const status = (code: number) => Buffer.of(code >> 8, code & 0xff);
  switch (frame.type) {
    case 'writeUserAccountIdRequest':
      return Buffer.concat([Buffer.of(WRITE_MODES[frame.mode]), userId(frame.userId)]);
    case 'authenticateUserAccountIdRequest':
      return userId(frame.userId);
    case 'lockOperationRequest':
      return Buffer.concat([Buffer.of(ACTIONS[frame.action]), userId(frame.userId)]);
    case 'writeUserAccountIdResponse':
    case 'authenticateUserAccountIdResponse':
      return status(frame.status);
    case 'lockOperationResponse':
      return Buffer.concat([status(frame.status), Buffer.of(BOLT_STATES[frame.bolt], frame.battery)]);
  }
}

/** The 34 header bytes, which are also the CCM associated data. */
function frameHeader(frame: Frame, payloadLength: number): Buffer {
  const bytes = Buffer.alloc(HEADER_BYTES);
  bytes[0] = (FRAME_MAGIC << 4) | FRAME_VERSION;
  bytes[OFFSET.type] = FRAME_TYPES[frame.type];
  bytes.write(frame.lockId, OFFSET.lockId, LOCK_ID_BYTES, 'hex');
  bytes[OFFSET.keyId] = frame.keyId;
  bytes.writeUInt32BE(frame.counter, OFFSET.counter);
  bytes.writeUInt32BE(frame.deadline, OFFSET.deadline);
  bytes.writeUInt16BE(payloadLength, OFFSET.length);
  bytes.write(frame.nonce, OFFSET.nonce, NONCE_BYTES, 'hex');
  return bytes;
}

/** Encrypts and authenticates a frame; throws FrameError ('invalid-key', 'invalid-frame') on bad input. */
export function sealFrame(key: Uint8Array, input: FrameInput): Buffer {
  if (!isKey(key)) throw new FrameError('invalid-key', `key must be ${KEY_BYTES} bytes`);
  const parsed = frameSchema.safeParse({
    ...input,
    nonce: input.nonce ?? randomBytes(NONCE_BYTES).toString('hex'),
  });
  if (!parsed.success) throw new FrameError('invalid-frame', describeIssue(parsed.error));
  const payload = encodePayload(parsed.data);
  const aad = frameHeader(parsed.data, payload.length);
  const cipher = createCipheriv('aes-128-ccm', key, aad.subarray(OFFSET.nonce), { authTagLength: TAG_BYTES });
  cipher.setAAD(aad, { plaintextLength: payload.length });
  const ciphertext = Buffer.concat([cipher.update(payload), cipher.final()]);
  return Buffer.concat([aad, ciphertext, cipher.getAuthTag()]);
}

/** The structural checks made before authentication: size, magic, version and the length field. */
function checkStructure(bytes: unknown): FrameResult<Uint8Array> {
  if (!(bytes instanceof Uint8Array)) return fail('malformed', 'not bytes');
  if (bytes.length > MAX_FRAME_BYTES) return fail('too-long', `longer than ${MAX_FRAME_BYTES} bytes`);
  if (bytes.length < HEADER_BYTES + TAG_BYTES) return fail('malformed', 'shorter than header and tag');
  const first = bytes[0]!;
  if (first >> 4 !== FRAME_MAGIC) return fail('malformed', 'bad magic');
  if ((first & 0x0f) !== FRAME_VERSION) return fail('unsupported-version', `version ${first & 0x0f}`);
  const length = (bytes[OFFSET.length]! << 8) | bytes[OFFSET.length + 1]!;
  if (HEADER_BYTES + length + TAG_BYTES !== bytes.length)
    return fail('malformed', 'length field does not match the frame size');
  return { ok: true, value: bytes };
}

/**
 * The lock ID and key ID a frame claims, UNAUTHENTICATED: only for choosing the key to open it with.
 */
export function frameKeyRef(bytes: Uint8Array): FrameResult<{ lockId: string; keyId: number }> {
  const checked = checkStructure(bytes);
  if (!checked.ok) return checked;
  const view = Buffer.from(checked.value.buffer, checked.value.byteOffset, checked.value.length);
  return {
    ok: true,
    value: {
      lockId: view.toString('hex', OFFSET.lockId, OFFSET.lockId + LOCK_ID_BYTES),
      keyId: view[OFFSET.keyId]!,
    },
  };
}

/** Bounds-checked reading of a decrypted payload. */
class Reader {
  private at = 0;
  constructor(private readonly bytes: Buffer) {}
  byte(): number | undefined {
    return this.at < this.bytes.length ? this.bytes[this.at++] : undefined;
  }
  take(length: number): Buffer | undefined {
    if (this.at + length > this.bytes.length) return undefined;
    this.at += length;
    return this.bytes.subarray(this.at - length, this.at);
  }
  get done(): boolean {
    return this.at === this.bytes.length;
  }
}

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function decodePayload(type: FrameType, payload: Buffer): Record<string, unknown> | undefined {
  const reader = new Reader(payload);
  const userId = () => {
    const length = reader.byte();
    const bytes = length === undefined ? undefined : reader.take(length);
    if (bytes === undefined) return undefined;
    try {
      return UTF8.decode(bytes);
    } catch {
      return undefined;
    }
  };
  const status = () => {
    const bytes = reader.take(2);
    return bytes && bytes.readUInt16BE(0);
  };
  let fields: Record<string, unknown>;
  switch (type) {
    case 'writeUserAccountIdRequest':
      fields = { mode: keyOf(WRITE_MODES, reader.byte() ?? -1), userId: userId() };
      break;
    case 'authenticateUserAccountIdRequest':
      fields = { userId: userId() };
      break;
    case 'lockOperationRequest':
      fields = { action: keyOf(ACTIONS, reader.byte() ?? -1), userId: userId() };
      break;
    case 'writeUserAccountIdResponse':
    case 'authenticateUserAccountIdResponse':
      fields = { status: status() };
      break;
    case 'lockOperationResponse':
      fields = { status: status(), bolt: keyOf(BOLT_STATES, reader.byte() ?? -1), battery: reader.byte() };
      break;
  }
  return reader.done ? fields : undefined;
}

/** Checks, decrypts and decodes a frame; never throws, never reads out of bounds, refuses trailing bytes. */
export function openFrame(key: Uint8Array, bytes: Uint8Array): FrameResult<Frame> {
  if (!isKey(key)) return fail('invalid-key', `key must be ${KEY_BYTES} bytes`);
  const checked = checkStructure(bytes);
  if (!checked.ok) return checked;
  const all = Buffer.from(checked.value.buffer, checked.value.byteOffset, checked.value.length);
  const aad = all.subarray(0, HEADER_BYTES);
  const ciphertext = all.subarray(HEADER_BYTES, all.length - TAG_BYTES);
  let payload: Buffer;
  try {
    const decipher = createDecipheriv('aes-128-ccm', key, aad.subarray(OFFSET.nonce), {
      authTagLength: TAG_BYTES,
    });
    decipher.setAuthTag(all.subarray(all.length - TAG_BYTES));
    decipher.setAAD(aad, { plaintextLength: ciphertext.length });
    payload = decipher.update(ciphertext);
    decipher.final();
  } catch {
    return fail('integrity', 'authentication tag does not match');
  }
  // Authentic from here on: what is wrong now was sealed wrong by a holder of the key.
  const type = keyOf(FRAME_TYPES, aad[OFFSET.type]!);
  if (type === undefined) return fail('malformed', 'unknown frame type');
  const fields = decodePayload(type, payload);
  if (fields === undefined) return fail('malformed', 'payload does not fit its type');
  const parsed = frameSchema.safeParse({
    type,
    lockId: aad.toString('hex', OFFSET.lockId, OFFSET.lockId + LOCK_ID_BYTES),
    keyId: aad[OFFSET.keyId],
    counter: aad.readUInt32BE(OFFSET.counter),
    deadline: aad.readUInt32BE(OFFSET.deadline),
    nonce: aad.toString('hex', OFFSET.nonce, HEADER_BYTES),
    ...fields,
  });
  if (!parsed.success) return fail('malformed', describeIssue(parsed.error));
  return { ok: true, value: parsed.data };
}
