/**
 * Section 6 a)–b) and section 7 (Figures 6–8): the transaction contents of the authentication flow, sealed with
 * AES-128-GCM (seal.ts) under the key the flow holds at that step. The draft names the messages and what the
 * device decrypts from them ("lbs_publickey", "DevID and Session Key", "Session Key"); the byte layouts below are
 * ours (docs/osap.md, "Message bodies").
 *
 *   message                          key          plaintext
 *   Authentication_ECDH_Req   0x1    share key    device_publickey (97)
 *   Authentication_ECDH_Rsp   0x2    share key    lbs_publickey (97); empty and unsealed when inconsistent
 *   Authentication_apply_devid_Req 0x7 master key challenge (16)
 *   Authentication_apply_devid_Rsp 0x8 master key challenge (16), session key (16), DevID (1 + n)
 *   Authentication_apply_devid_Cfm 0x9 session key DevID (n)
 *   Refresh_SessionKey_Req    0x4    master key   challenge (16)                  (DevID in the variable header)
 *   Refresh_SessionKey_Rsp    0x6    master key   challenge (16), session key (16)
 *   Get_AccessService_Req     0xA    session key  challenge (16)                  (section 7, F1)
 *   Get_AccessService_Rsp     0xB    session key  challenge (16), DAS port (2), DAS host (n)   (F2)
 *
 * A request's challenge is random and its response repeats it, so a device takes no response to an older request;
 * a response sealed under the right key also proves the LBS holds that key. The associated data is every byte of
 * the control message before the transaction content (headers, LEN, PROTOCOL-VERSION), so nothing sent in clear
 * can be changed either. The draft defines no refusal message: an LBS that refuses closes the connection.
 */
import { z } from 'zod';
import { Reader, bytesSchema, concat, decodeUtf8, uint16 } from './bytes.js';
import { describeIssue, fail, ok, OsapError, type OsapResult } from './errors.js';
import {
  CONTROL_FLAG_ECDH,
  buildFrame,
  frameSchema,
  identifierSchema,
  protocolGroupSchema,
  protocolTypeSchema,
  type ControlMessageType,
  type Frame,
} from './frame.js';
import { KEY_BYTES, PUBLIC_KEY_BYTES } from './keys.js';
import { SEAL_OVERHEAD, open, seal } from './seal.js';
import { OSAP_VERSION } from './version.js';

export const CHALLENGE_BYTES = 16;

/** Which key seals each message's transaction content. */
export const SEALING_KEY = {
  Authentication_ECDH_Req: 'share',
  Authentication_ECDH_Rsp: 'share',
  Authentication_apply_devid_Req: 'master',
  Authentication_apply_devid_Rsp: 'master',
  Authentication_apply_devid_Cfm: 'session',
  Refresh_SessionKey_Req: 'master',
  Refresh_SessionKey_Rsp: 'master',
  Get_AccessService_Req: 'session',
  Get_AccessService_Rsp: 'session',
} as const satisfies Record<ControlMessageType, 'share' | 'master' | 'session'>;

const bytesOf = (length: number) => bytesSchema.refine((b) => b.length === length, `must be ${length} bytes`);
const challenge = bytesOf(CHALLENGE_BYTES);
const key = bytesOf(KEY_BYTES);
const publicKey = bytesOf(PUBLIC_KEY_BYTES);
/** A DAS host name or IP address literal as a device dials it (section 7, F2). */
export const dasAddressSchema = z.strictObject({
  host: z.string().regex(/^[A-Za-z0-9.:-]{1,253}$/, 'a host name or IP address'),
  port: z.number().int().min(1).max(65_535),
});
export type DasAddress = z.output<typeof dasAddressSchema>;

export const authMessageSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('Authentication_ECDH_Req'),
    protocolType: protocolTypeSchema,
    protocolGroup: protocolGroupSchema,
    serialNumber: identifierSchema,
    devicePublicKey: publicKey,
  }),
  z.strictObject({
    type: z.literal('Authentication_ECDH_Rsp'),
    protocolType: protocolTypeSchema,
    protocolGroup: protocolGroupSchema,
    /** Present when the negotiation is consistent; the inconsistent answer carries no key. */
    lbsPublicKey: publicKey.optional(),
  }),
  z.strictObject({ type: z.literal('Authentication_apply_devid_Req'), challenge }),
  z.strictObject({
    type: z.literal('Authentication_apply_devid_Rsp'),
    challenge,
    sessionKey: key,
    devId: identifierSchema,
  }),
  z.strictObject({ type: z.literal('Authentication_apply_devid_Cfm'), devId: identifierSchema }),
  z.strictObject({ type: z.literal('Refresh_SessionKey_Req'), devId: identifierSchema, challenge }),
  z.strictObject({ type: z.literal('Refresh_SessionKey_Rsp'), challenge, sessionKey: key }),
  z.strictObject({ type: z.literal('Get_AccessService_Req'), challenge }),
  z.strictObject({ type: z.literal('Get_AccessService_Rsp'), challenge, das: dasAddressSchema }),
]);
export type AuthMessage = z.output<typeof authMessageSchema>;
export type AuthMessageOf<T extends ControlMessageType> = Extract<AuthMessage, { type: T }>;

const ascii = (text: string) => new TextEncoder().encode(text);

function plaintextOf(message: AuthMessage): Uint8Array | undefined {
  switch (message.type) {
    case 'Authentication_ECDH_Req':
      return message.devicePublicKey;
    case 'Authentication_ECDH_Rsp':
      return message.lbsPublicKey;
    case 'Authentication_apply_devid_Req':
    case 'Refresh_SessionKey_Req':
    case 'Get_AccessService_Req':
      return message.challenge;
    case 'Authentication_apply_devid_Rsp': {
      const devId = ascii(message.devId);
      return concat([message.challenge, message.sessionKey, Uint8Array.of(devId.length), devId]);
    }
    case 'Authentication_apply_devid_Cfm':
      return ascii(message.devId);
    case 'Refresh_SessionKey_Rsp':
      return concat([message.challenge, message.sessionKey]);
    case 'Get_AccessService_Rsp':
      return concat([message.challenge, uint16(message.das.port), ascii(message.das.host)]);
  }
}

/** The frame of a message with the given transaction content. */
function frameOf(message: AuthMessage, transaction: Uint8Array): Frame {
  const common = { controlFlag: CONTROL_FLAG_ECDH, version: OSAP_VERSION, transaction };
  switch (message.type) {
    case 'Authentication_ECDH_Req':
      return {
        type: message.type,
        ...common,
        ...pick(message, 'protocolType', 'protocolGroup', 'serialNumber'),
      };
    case 'Authentication_ECDH_Rsp':
      return { type: message.type, ...common, ...pick(message, 'protocolType', 'protocolGroup') };
    case 'Refresh_SessionKey_Req':
      return { type: message.type, ...common, devId: message.devId };
    default:
      return { type: message.type, ...common };
  }
}

function pick<T, K extends keyof T>(value: T, ...keys: K[]): Pick<T, K> {
  return Object.fromEntries(keys.map((k) => [k, value[k]])) as Pick<T, K>;
}

/** The associated data: the control message's bytes before its transaction content. */
function associatedData(frame: Frame): Uint8Array {
  const bytes = buildFrame(frame);
  return bytes.subarray(0, bytes.length - frame.transaction.length);
}

/**
 * The bytes of an authentication message, its content sealed under `key` (SEALING_KEY says which); `nonce` only
 * for test vectors. Throws OsapError ('invalid-input', 'invalid-key') on values out of schema.
 */
export function buildAuthMessage(key: Uint8Array, input: AuthMessage, nonce?: Uint8Array): Uint8Array {
  const parsed = authMessageSchema.safeParse(input);
  if (!parsed.success) throw new OsapError('invalid-input', describeIssue(parsed.error));
  const plaintext = plaintextOf(parsed.data);
  if (plaintext === undefined) return buildFrame(frameOf(parsed.data, new Uint8Array(0)));
  const aad = associatedData(frameOf(parsed.data, new Uint8Array(plaintext.length + SEAL_OVERHEAD)));
  return buildFrame(frameOf(parsed.data, seal(key, plaintext, aad, nonce)));
}

function decodePlaintext(frame: Frame, plaintext: Uint8Array): Record<string, unknown> | undefined {
  const reader = new Reader(plaintext);
  const rest = () => reader.take(reader.rest)!;
  switch (frame.type) {
    case 'Authentication_ECDH_Req':
      return { devicePublicKey: rest() };
    case 'Authentication_ECDH_Rsp':
      return { lbsPublicKey: rest() };
    case 'Authentication_apply_devid_Req':
    case 'Refresh_SessionKey_Req':
    case 'Get_AccessService_Req':
      return { challenge: rest() };
    case 'Authentication_apply_devid_Rsp': {
      const fields = { challenge: reader.take(CHALLENGE_BYTES), sessionKey: reader.take(KEY_BYTES) };
      const length = reader.byte();
      const devId = length === undefined ? undefined : reader.take(length);
      return reader.rest === 0 ? { ...fields, devId: devId && decodeUtf8(devId) } : undefined;
    }
    case 'Authentication_apply_devid_Cfm':
      return { devId: decodeUtf8(rest()) };
    case 'Refresh_SessionKey_Rsp':
      return { challenge: reader.take(CHALLENGE_BYTES), sessionKey: rest() };
    case 'Get_AccessService_Rsp':
      return {
        challenge: reader.take(CHALLENGE_BYTES),
        das: { port: reader.uint16(), host: decodeUtf8(rest()) },
      };
  }
}

/**
 * Opens a parsed control message (parseFrame) under `key`. Never throws: a frame that parseFrame would not have
 * returned is 'invalid-input'. An Authentication_ECDH_Rsp with an empty transaction content is the inconsistent
 * answer and needs no key.
 */
export function openAuthMessage(key: Uint8Array, input: Frame): OsapResult<AuthMessage> {
  const checked = frameSchema.safeParse(input);
  if (!checked.success) return fail('invalid-input', describeIssue(checked.error));
  const frame = checked.data;
  let fields: Record<string, unknown> | undefined = {};
  if (!(frame.type === 'Authentication_ECDH_Rsp' && frame.transaction.length === 0)) {
    const plaintext = open(key, frame.transaction, associatedData(frame));
    if (!plaintext.ok) return plaintext;
    fields = decodePlaintext(frame, plaintext.value);
    if (fields === undefined) return fail('malformed', 'transaction content does not fit its type');
  }
  const header: Record<string, unknown> = { ...frame };
  for (const field of ['controlFlag', 'version', 'transaction']) delete header[field];
  const parsed = authMessageSchema.safeParse({ ...header, ...fields });
  if (!parsed.success) return fail('malformed', describeIssue(parsed.error));
  return ok(parsed.data);
}
