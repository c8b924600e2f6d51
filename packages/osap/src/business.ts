/**
 * Section 7 (Figure 8, "Business message: AES128(message), AES128 private key: session key") and section 5,
 * Figure 2: the payload of an MQTT PUBLISH on a DAS channel (attribute, operation, event; Figure 1).
 *
 *   LEN (2) | general payload: PROTOCOL-VERSION (3), direction (1), counter (4)  | application payload: sealed body
 *
 * The general payload is in clear: it is what the receiver needs to open the application payload, the body sealed
 * under the session key (seal.ts) with LEN, the general payload and the topic as associated data, so a body cannot
 * be moved to another channel. The draft says nothing of replay; we add a counter per session key and direction:
 * the sender counts from 1, the receiver accepts only a counter above the last one it accepted (gaps are fine:
 * QoS 0 may lose messages, and a QoS 1 redelivery is then recognised as the duplicate it is). The direction byte
 * keeps a message from being reflected back to its sender under the same key. A session key ends at
 * re-authentication (Refresh_SessionKey), and counting starts again with the new one.
 */
import { Reader, concat, uint32 } from './bytes.js';
import { fail, ok, OsapError, type OsapResult } from './errors.js';
import { decodePayload, encodePayload, LEN_BYTES } from './general-payload.js';
import { open, seal } from './seal.js';
import {
  OSAP_VERSION,
  PROTOCOL_VERSION_BYTES,
  encodeProtocolVersion,
  isSupportedVersion,
} from './version.js';

export const DIRECTIONS = { deviceToPlatform: 0x01, platformToDevice: 0x02 } as const;
export type Direction = keyof typeof DIRECTIONS;
export const MAX_COUNTER = 0xffff_ffff;
const GENERAL_BYTES = PROTOCOL_VERSION_BYTES + 1 + 4;

export interface BusinessEnvelope {
  sessionKey: Uint8Array;
  /** The MQTT topic the payload is published on (its UTF-8 bytes are associated data). */
  topic: string;
  direction: Direction;
}

/**
 * The PUBLISH payload for a business body. `counter` is 1 for the first message under a session key in a direction
 * and grows by at least 1; past MAX_COUNTER the device must re-authenticate. `nonce` only for test vectors.
 */
export function sealBusinessPayload(
  envelope: BusinessEnvelope & { counter: number },
  body: Uint8Array,
  nonce?: Uint8Array,
): Uint8Array {
  const { counter, direction } = envelope;
  if (!Number.isInteger(counter) || counter < 1 || counter > MAX_COUNTER)
    throw new OsapError('invalid-input', `counter must be 1–${MAX_COUNTER}`);
  const general = concat([
    encodeProtocolVersion(OSAP_VERSION),
    Uint8Array.of(DIRECTIONS[direction]),
    uint32(counter),
  ]);
  const clear = encodePayload({ general, application: new Uint8Array(0) });
  const aad = concat([clear, new TextEncoder().encode(envelope.topic)]);
  return encodePayload({ general, application: seal(envelope.sessionKey, body, aad, nonce) });
}

/**
 * Opens a PUBLISH payload that should come from `direction`, refusing a counter not above `lastCounter` (0 when
 * none was accepted yet under this session key). Never throws. The caller keeps the counter returned.
 */
export function openBusinessPayload(
  envelope: BusinessEnvelope & { lastCounter: number },
  bytes: Uint8Array,
): OsapResult<{ counter: number; body: Uint8Array }> {
  if (!(bytes instanceof Uint8Array)) return fail('malformed', 'not bytes');
  const payload = decodePayload(bytes);
  if (!payload.ok) return payload;
  const { general, application } = payload.value;
  if (general.length !== GENERAL_BYTES)
    return fail('malformed', `a general payload is ${GENERAL_BYTES} bytes`);
  const reader = new Reader(general);
  const version = {
    FORM_VERSION: reader.byte()!,
    HIGH_TYPE_VERSION: reader.byte()!,
    LOW_TYPE_VERSION: reader.byte()!,
  };
  if (!isSupportedVersion(version))
    return fail('unsupported-version', `PROTOCOL-VERSION ${Object.values(version).join('.')}`);
  if (reader.byte() !== DIRECTIONS[envelope.direction]) return fail('unexpected-message', 'wrong direction');
  const counter = reader.uint32()!;
  if (counter <= envelope.lastCounter)
    return fail('replay', `counter ${counter} is not above the last accepted, ${envelope.lastCounter}`);
  const aad = concat([
    bytes.subarray(0, LEN_BYTES + GENERAL_BYTES),
    new TextEncoder().encode(envelope.topic),
  ]);
  const body = open(envelope.sessionKey, application, aad);
  return body.ok ? ok({ counter, body: body.value }) : body;
}
