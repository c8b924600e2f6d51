/**
 * SCRAM credentials (RFC 5802, RFC 7677): what the message server keeps instead of a password, so the XMPP
 * login can use SCRAM-SHA-1 and SCRAM-SHA-256 (and PLAIN inside TLS, checked against the same keys).
 */
import { createHash, createHmac, pbkdf2, randomBytes, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import { saslprep } from '@mongodb-js/saslprep';

const pbkdf2Async = promisify(pbkdf2);

export type ScramHash = 'sha1' | 'sha256';
/** RFC 7677 §4: at least 4096 iterations. */
export const SCRAM_ITERATIONS = 4096;

export interface ScramCredential {
  iterations: number;
  salt: string; // base64
  storedKey: string; // base64
  serverKey: string; // base64
}

const KEY_LENGTH: Record<ScramHash, number> = { sha1: 20, sha256: 32 };

/**
 * SASLprep (RFC 4013) of a password as a query string (RFC 5802 §2.2: unassigned code points allowed, so a
 * password with an emoji is still normalised); undefined when it contains prohibited characters.
 */
export function preparePassword(password: string): string | undefined {
  try {
    return saslprep(password, { allowUnassigned: true });
  } catch {
    return undefined;
  }
}

async function saltedPassword(
  password: string,
  salt: Buffer,
  iterations: number,
  hash: ScramHash,
): Promise<Buffer> {
  const prepared = preparePassword(password) ?? password;
  return pbkdf2Async(prepared, salt, iterations, KEY_LENGTH[hash], hash);
}

function keysFrom(salted: Buffer, hash: ScramHash): { storedKey: Buffer; serverKey: Buffer } {
  const clientKey = createHmac(hash, salted).update('Client Key').digest();
  return {
    storedKey: createHash(hash).update(clientKey).digest(),
    serverKey: createHmac(hash, salted).update('Server Key').digest(),
  };
}

export async function scramCredential(
  password: string,
  hash: ScramHash,
  iterations = SCRAM_ITERATIONS,
): Promise<ScramCredential> {
  const salt = randomBytes(16);
  const { storedKey, serverKey } = keysFrom(await saltedPassword(password, salt, iterations, hash), hash);
  return {
    iterations,
    salt: salt.toString('base64'),
    storedKey: storedKey.toString('base64'),
    serverKey: serverKey.toString('base64'),
  };
}

/** Checks a clear password (SASL PLAIN, the client account API) against a SCRAM credential. */
export async function verifyScramPassword(password: string, credential: ScramCredential, hash: ScramHash) {
  const salted = await saltedPassword(
    password,
    Buffer.from(credential.salt, 'base64'),
    credential.iterations,
    hash,
  );
  const { storedKey } = keysFrom(salted, hash);
  const expected = Buffer.from(credential.storedKey, 'base64');
  return expected.length === storedKey.length && timingSafeEqual(expected, storedKey);
}
