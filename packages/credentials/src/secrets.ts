/** Password hashes, token digests and random secrets. */
import { hash, randomBytes, timingSafeEqual } from 'node:crypto';
import { scramCredential, verifyScramPassword, type ScramCredential } from './scram.js';

/**
 * A salted password hash, stored as `scram-sha-256$<iterations>$<salt>$<storedKey>$<serverKey>` so that one
 * format serves the account server (verification) and could serve SCRAM directly.
 */
export async function hashPassword(password: string, iterations?: number): Promise<string> {
  const c = await scramCredential(password, 'sha256', iterations);
  return ['scram-sha-256', c.iterations, c.salt, c.storedKey, c.serverKey].join('$');
}

export function parsePasswordHash(encoded: string): ScramCredential | undefined {
  const [scheme, iterations, salt, storedKey, serverKey, ...rest] = encoded.split('$');
  if (scheme !== 'scram-sha-256' || rest.length > 0 || !salt || !storedKey || !serverKey) return undefined;
  const n = Number(iterations);
  return Number.isInteger(n) && n > 0 ? { iterations: n, salt, storedKey, serverKey } : undefined;
}

export async function verifyPassword(password: string, encoded: string): Promise<boolean> {
  const credential = parsePasswordHash(encoded);
  return credential ? verifyScramPassword(password, credential, 'sha256') : false;
}

/**
 * Tokens are random and long, so a SHA-256 digest is enough to store them (no salt or stretching). One-shot
 * `hash`: every push and account message computes one, and it costs half of a `Hash` object's.
 */
export function tokenDigest(token: string): Buffer {
  return hash('sha256', token, 'buffer');
}

/** Constant-time check of a presented token against a stored digest. */
export function tokenMatches(token: string, digest: Buffer): boolean {
  const presented = tokenDigest(token);
  return presented.length === digest.length && timingSafeEqual(presented, digest);
}

/** A random secret (appid tokens, verification codes of the embedded default). */
export function randomSecret(bytes = 24): string {
  return randomBytes(bytes).toString('base64url');
}
