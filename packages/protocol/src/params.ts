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
export const deviceInfoSchema = unicodeText().min(1).max(256).regex(NO_CONTROL, 'control character');
export const dataSchema = unicodeText().min(1).max(MAX_DATA_LENGTH);

/** Name of an additional registration parameter that Messages 2 and 4 carry through. */
export const EXTRA_NAME = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;
export const extraValueSchema = unicodeText().max(1024).regex(NO_CONTROL, 'control character');
