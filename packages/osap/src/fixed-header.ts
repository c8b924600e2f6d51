/**
 * Section 5, Figure 2: the fixed header, "2–5 bytes … depending on the length of the variable header and payload".
 * The draft gives only that length; the layout is MQTT's (the draft's transport, ISO/IEC 20922 2.2), which is the
 * one that varies between exactly 2 and 5 bytes:
 *
 *   byte 0      control message type (Table 3) in the high nibble, control flag in the low nibble
 *   bytes 1–4   remaining length: the bytes after the fixed header, MQTT's variable byte integer (1–4 bytes)
 */
import { fail, ok, type OsapResult } from './errors.js';

/** The largest remaining length four MQTT length bytes hold. */
export const MAX_REMAINING_LENGTH = 268_435_455;

export interface FixedHeader {
  /** Table 3's control message type, 0x0–0xF as read (the frame layer decides what it means). */
  type: number;
  controlFlag: number;
  remainingLength: number;
  /** How many bytes the fixed header took (2–5). */
  length: number;
}

export function encodeFixedHeader(type: number, controlFlag: number, remainingLength: number): Uint8Array {
  const bytes = [(type << 4) | controlFlag];
  let rest = remainingLength;
  do {
    const digit = rest % 128;
    rest = Math.floor(rest / 128);
    bytes.push(rest > 0 ? digit | 0x80 : digit);
  } while (rest > 0);
  return Uint8Array.from(bytes);
}

/**
 * Reads a fixed header at the start of the bytes. 'truncated' when the bytes stop inside it; 'malformed' for a
 * fifth length byte or a longer encoding than needed (MQTT 1.5.5: "the minimum number of bytes"), so that every
 * header has exactly one encoding.
 */
export function decodeFixedHeader(bytes: Uint8Array): OsapResult<FixedHeader> {
  const first = bytes[0];
  if (first === undefined) return fail('truncated', 'no fixed header');
  let remainingLength = 0;
  for (let i = 1; i <= 4; i++) {
    const digit = bytes[i];
    if (digit === undefined) return fail('truncated', 'the remaining length is cut short');
    remainingLength += (digit & 0x7f) * 128 ** (i - 1);
    if ((digit & 0x80) === 0) {
      if (i > 1 && digit === 0) return fail('malformed', 'remaining length not in its shortest encoding');
      return ok({ type: first >> 4, controlFlag: first & 0x0f, remainingLength, length: i + 1 });
    }
  }
  return fail('malformed', 'remaining length longer than 4 bytes');
}
