/**
 * Section 5, Figure 2: the payload after the headers, a general payload (LEN, 2 bytes, then its content "Gernal")
 * and an application payload ("Func", the rest). LEN is unsigned, big-endian (MQTT's byte order).
 */
import { Reader, concat, uint16 } from './bytes.js';
import { fail, ok, type OsapResult } from './errors.js';

export const LEN_BYTES = 2;
export const MAX_GENERAL_BYTES = 0xffff;

export interface Payload {
  general: Uint8Array;
  application: Uint8Array;
}

export function encodePayload(payload: Payload): Uint8Array {
  return concat([uint16(payload.general.length), payload.general, payload.application]);
}

export function decodePayload(bytes: Uint8Array): OsapResult<Payload> {
  const reader = new Reader(bytes);
  const length = reader.uint16();
  if (length === undefined) return fail('malformed', 'no LEN');
  const general = reader.take(length);
  if (general === undefined) return fail('malformed', 'LEN runs past the end of the payload');
  return ok({ general, application: reader.take(reader.rest)! });
}
