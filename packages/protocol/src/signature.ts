/**
 * Signed requests (our addition for clauses 8.6 and 8.8, docs/decisions/0006-cross-as-exchange.md): an
 * HMAC-SHA256, with a key shared by the two parties only, over the method, the path, a timestamp, a nonce and
 * the SHA-256 of the payload exactly as sent (a POST body; for a GET, the query string). The signature travels
 * in a header, so it never lands in a URL or an access log.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';

export const SIGNATURE_HEADER = 'irsp-signature';
export const SIGNATURE_SCHEME = 'IRSP-HMAC-SHA256';
/** How far a request's timestamp may be from the receiver's clock, either way (seconds). */
export const SIGNATURE_WINDOW_SECONDS = 300;

/** Unix time in seconds, as a JSON number (Table 8). */
export const unixSecondsSchema = z
  .number()
  .int()
  .min(0)
  .max(2 ** 40);
/** Unix time in seconds, as a form parameter (Messages 14–15 across ASs). */
export const formTimestampSchema = z
  .string()
  .regex(/^\d{1,12}$/, 'timestamp must be Unix seconds')
  .transform(Number);
export const nonceSchema = z
  .string()
  .regex(/^[A-Za-z0-9_-]{16,128}$/, 'nonce must be 16–128 of A-Z a-z 0-9 _ -');
export const signatureSchema = z
  .string()
  .regex(/^[0-9a-f]{64}$/, 'signature must be 64 lower-case hex digits');

export interface SignedParts {
  method: string;
  /** The request path without the query string. */
  path: string;
  timestamp: number;
  nonce: string;
  payload: string | Uint8Array;
}

/** `IRSP-HMAC-SHA256\nPOST\n/path\n<timestamp>\n<nonce>\n<hex SHA-256 of the payload>` */
export function signingString(parts: SignedParts): string {
  const digest = createHash('sha256').update(parts.payload).digest('hex');
  return [
    SIGNATURE_SCHEME,
    parts.method.toUpperCase(),
    parts.path,
    String(parts.timestamp),
    parts.nonce,
    digest,
  ].join('\n');
}

export function sign(key: string, parts: SignedParts): string {
  return createHmac('sha256', key).update(signingString(parts)).digest('hex');
}

/** Constant-time check of a presented signature (any malformed value is simply no match). */
export function signatureMatches(key: string, parts: SignedParts, presented: unknown): boolean {
  if (!signatureSchema.safeParse(presented).success) return false;
  return timingSafeEqual(Buffer.from(sign(key, parts), 'hex'), Buffer.from(presented as string, 'hex'));
}

export function timestampFresh(timestamp: number, nowSeconds: number): boolean {
  return Math.abs(nowSeconds - timestamp) <= SIGNATURE_WINDOW_SECONDS;
}

export function newNonce(): string {
  return randomBytes(18).toString('base64url');
}

export function nowSeconds(now = Date.now()): number {
  return Math.floor(now / 1000);
}
