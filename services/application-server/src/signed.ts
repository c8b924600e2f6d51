/** Checking a signed request (docs/decisions/0006): fresh timestamp, matching signature, then an unused nonce. */
import { signatureMatches, timestampFresh, nowSeconds, type SignedParts } from '@irsp/protocol';
import type { NonceStore } from './nonces.js';

export async function verifySigned(
  nonces: NonceStore,
  scope: string,
  key: string,
  parts: SignedParts,
  signature: unknown,
): Promise<boolean> {
  if (!timestampFresh(parts.timestamp, nowSeconds())) return false;
  // The nonce is spent only by a correctly signed request, so nobody else can burn a peer's nonces.
  if (!signatureMatches(key, parts, signature)) return false;
  return nonces.consume(scope, parts.nonce, parts.timestamp);
}
