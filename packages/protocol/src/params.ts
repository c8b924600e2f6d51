/** Parameter value schemas shared by the messages of clause 8 and the client account API. */
import { z } from 'zod';

/** Largest `data` value of Messages 8, 9 and 12–15, in characters. */
export const MAX_DATA_LENGTH = 65_536;
export const MAX_EXTRA_PARAMETERS = 32;

const NO_CONTROL = /^[^\p{Cc}]*$/u;
/**
 * A UTF-16 surrogate not paired with its other half is no Unicode character: it cannot be UTF-8 encoded, so a form
 * builder would throw on it (URIError) and no client could have sent it in a form. JSON bodies can still carry one
 * (`"\ud800"`), so every free-text value refuses it here, where builder and parser share the schema. (With the
 * `u` flag a pair is one astral code point: only a lone half is `\p{Cs}`.)
 */
const LONE_SURROGATE = /\p{Cs}/u;
/** Well-formed Unicode text (no lone surrogate). */
export const unicodeText = () =>
  z.string().refine((s) => !LONE_SURROGATE.test(s), 'not well-formed Unicode (a lone surrogate)');

export const versionSchema = z.literal('1');
export const appidSchema = z
  .string()
  .regex(/^[A-Za-z0-9._~-]{1,128}$/, 'appid must be 1–128 of A-Z a-z 0-9 . _ ~ -');
export const tokenSchema = unicodeText().min(1).max(512).regex(NO_CONTROL, 'token has a control character');
export const passwordSchema = unicodeText()
  .min(1)
  .max(1024)
  .regex(NO_CONTROL, 'password has a control character');
/** A device verification code; Message 7 allows it empty ("new device verification code or empty"). */
export const verifyCodeSchema = unicodeText()
  .max(256)
  .regex(NO_CONTROL, 'verifycode has a control character');

/**
 * Verification code strength (docs/decisions/0010-guessing-throttle.md). The standard sets none, so none is refused;
 * below WEAK the servers log a warning. The estimate is length × log2 of the alphabet its character classes span
 * (digits 10, lower 26, upper 26, others 33): 4 digits ≈ 13 bits, 6 digits ≈ 20, 8 letters and digits ≈ 41.
 */
export const VERIFY_CODE_BITS = { weak: 20, recommended: 40 } as const;

export function verifyCodeBits(code: string): number {
  const chars = [...code];
  const alphabet =
    (chars.some((c) => /\p{Nd}/u.test(c)) ? 10 : 0) +
    (chars.some((c) => /\p{Ll}/u.test(c)) ? 26 : 0) +
    (chars.some((c) => /\p{Lu}/u.test(c)) ? 26 : 0) +
    (chars.some((c) => !/[\p{Nd}\p{Ll}\p{Lu}]/u.test(c)) ? 33 : 0);
  return alphabet === 0 ? 0 : chars.length * Math.log2(alphabet);
}

/** A code that is set (not empty, which means "none") and weaker than VERIFY_CODE_BITS.weak. */
export function weakVerifyCode(code: string | undefined): boolean {
  return code !== undefined && code !== '' && verifyCodeBits(code) < VERIFY_CODE_BITS.weak;
}
export const deviceInfoSchema = unicodeText().min(1).max(256).regex(NO_CONTROL, 'control character');
export const dataSchema = unicodeText().min(1).max(MAX_DATA_LENGTH);

/** Name of an additional registration parameter that Messages 2 and 4 carry through. */
export const EXTRA_NAME = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;
export const extraValueSchema = unicodeText().max(1024).regex(NO_CONTROL, 'control character');
