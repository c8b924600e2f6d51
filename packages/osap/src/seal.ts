/**
 * Section 5: "General protocols and business protocol bodies need AES (128) encryption". The draft names no mode;
 * we use AES-128-GCM (docs/osap.md, choice 19): authenticated, so a changed or forged body is refused rather
 * than decrypted to garbage; the AEAD of TLS 1.3 and of most device TLS stacks, so devices already have it; and
 * WebCrypto implements it, which gives the tests an independent second implementation.
 *
 *   sealed = nonce (12 bytes, random) ‖ ciphertext ‖ tag (16 bytes)
 *
 * The nonce is random rather than counted because the share and master keys outlive any one connection and a
 * device keeps no counter across restarts; 96 random bits stay far from a collision at the few messages per key
 * of this protocol. The associated data binds a body to the bytes in clear around it (headers, topic).
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { fail, ok, OsapError, type OsapResult } from './errors.js';
import { KEY_BYTES } from './keys.js';

export const AES_MODE = 'aes-128-gcm';
export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;
export const SEAL_OVERHEAD = NONCE_BYTES + TAG_BYTES;

/** Encrypts and authenticates; throws OsapError('invalid-key') for a key that is not 16 bytes. */
export function seal(
  key: Uint8Array,
  plaintext: Uint8Array,
  aad: Uint8Array,
  nonce?: Uint8Array,
): Uint8Array {
  if (key.length !== KEY_BYTES) throw new OsapError('invalid-key', `an AES-128 key is ${KEY_BYTES} bytes`);
  const iv = nonce ?? randomBytes(NONCE_BYTES);
  if (iv.length !== NONCE_BYTES) throw new OsapError('invalid-input', `a nonce is ${NONCE_BYTES} bytes`);
  const cipher = createCipheriv(AES_MODE, key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad);
  return new Uint8Array(Buffer.concat([iv, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]));
}

/** Checks and decrypts; never throws. */
export function open(key: Uint8Array, sealed: Uint8Array, aad: Uint8Array): OsapResult<Uint8Array> {
  if (key.length !== KEY_BYTES) return fail('invalid-key', `an AES-128 key is ${KEY_BYTES} bytes`);
  if (sealed.length < SEAL_OVERHEAD) return fail('malformed', 'shorter than nonce and tag');
  try {
    const decipher = createDecipheriv(AES_MODE, key, sealed.subarray(0, NONCE_BYTES), {
      authTagLength: TAG_BYTES,
    });
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
    decipher.setAAD(aad);
    const plaintext = decipher.update(sealed.subarray(NONCE_BYTES, sealed.length - TAG_BYTES));
    decipher.final();
    return ok(new Uint8Array(plaintext));
  } catch {
    return fail('integrity', 'authentication tag does not match');
  }
}
