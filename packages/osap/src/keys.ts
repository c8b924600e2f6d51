/**
 * Section 6, "the key algorithm of secret key in the authentication process":
 *
 *   sharekey: pdkdf2_SHA256(md5(md5(MD5(verification code + device serial number)+www.88075998.com)))
 *   Device masterkey: ecdh_NID_secp384r1 (lbs_publickey, device_privatekey)
 *   Server masterkey: ecdh_NID_secp384r1 (device_publickey, lbs_privatekey)
 *
 * and the session key, which the LBS issues with the DevID (0x8) and again at re-authentication (0x6). Every key
 * is 16 bytes, for AES-128 (section 5). What the draft leaves open (docs/osap.md, "Keys"):
 * - each md5 yields its lowercase hex digest, a string, so that "+ www.88075998.com" is string concatenation;
 *   "MD5" and "md5" are the same function;
 * - PBKDF2's password is the last hex digest; salt, iterations and length are SHARE_KEY_DEFAULTS, configurable;
 * - the ECDH output (48 bytes, the x coordinate) goes through HKDF-SHA256 to the 16-byte master key.
 */
import { createECDH, createHash, hkdfSync, pbkdf2, pbkdf2Sync, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { z } from 'zod';
import { bytesSchema } from './bytes.js';
import { describeIssue, fail, ok, OsapError, type OsapResult } from './errors.js';
import { identifierSchema } from './frame.js';

export const KEY_BYTES = 16;
export const ECDH_CURVE = 'secp384r1';
/** An uncompressed secp384r1 point: 0x04, x, y. */
export const PUBLIC_KEY_BYTES = 97;
export const PRIVATE_KEY_BYTES = 48;
/** The constant the draft prints inside the share key formula. */
export const SHARE_KEY_CONSTANT = 'www.88075998.com';
export const MASTER_KEY_INFO = 'OSAP master key';

/** The code printed on a device, typed in by its owner: printable ASCII like the serial number. */
export const verificationCodeSchema = z
  .string()
  .regex(/^[\x21-\x7e]{1,64}$/, '1–64 printable ASCII characters');

export const shareKeyOptionsSchema = z.strictObject({
  /**
   * 100 000 PBKDF2-SHA256 rounds (about 30 ms on one server core): a verification code is short, and anyone who
   * sees an Authentication_ECDH_Req can test guesses of it against the sealed public key offline.
   */
  iterations: z.number().int().min(1).max(10_000_000).default(100_000),
  /** Salt; left out, the serial number's bytes, so that one code on two devices gives two keys. */
  salt: bytesSchema.optional(),
  keyLength: z.number().int().min(16).max(64).default(KEY_BYTES),
});
export type ShareKeyOptions = z.input<typeof shareKeyOptionsSchema>;
export const SHARE_KEY_DEFAULTS = shareKeyOptionsSchema.parse({});

const md5Hex = (text: string): string => createHash('md5').update(text, 'utf8').digest('hex');

/** PBKDF2's inputs for a share key; throws OsapError('invalid-input') on a code, serial number or option out of schema. */
function shareKeyInputs(verificationCode: string, serialNumber: string, options: ShareKeyOptions) {
  const code = verificationCodeSchema.safeParse(verificationCode);
  if (!code.success) throw new OsapError('invalid-input', `verification code: ${describeIssue(code.error)}`);
  const serial = identifierSchema.safeParse(serialNumber);
  if (!serial.success) throw new OsapError('invalid-input', `serial number: ${describeIssue(serial.error)}`);
  const opts = shareKeyOptionsSchema.safeParse(options);
  if (!opts.success) throw new OsapError('invalid-input', describeIssue(opts.error));
  const password = md5Hex(md5Hex(md5Hex(code.data + serial.data) + SHARE_KEY_CONSTANT));
  const salt = opts.data.salt ?? Buffer.from(serial.data, 'utf8');
  return [password, salt, opts.data.iterations, opts.data.keyLength, 'sha256'] as const;
}

/** The share key of a device; throws OsapError('invalid-input') on a code, serial number or option out of schema. */
export function shareKey(
  verificationCode: string,
  serialNumber: string,
  options: ShareKeyOptions = {},
): Uint8Array {
  return new Uint8Array(pbkdf2Sync(...shareKeyInputs(verificationCode, serialNumber, options)));
}

/** shareKey off the event loop, for a server deriving it while it serves others; rejects like shareKey throws. */
export async function shareKeyAsync(
  verificationCode: string,
  serialNumber: string,
  options: ShareKeyOptions = {},
): Promise<Uint8Array> {
  const inputs = shareKeyInputs(verificationCode, serialNumber, options);
  return new Uint8Array(await promisify(pbkdf2)(...inputs));
}

export interface EcdhKeyPair {
  /** 48 bytes. */
  privateKey: Uint8Array;
  /** 97 bytes, uncompressed: what travels (sealed) in Authentication_ECDH_Req and _Rsp. */
  publicKey: Uint8Array;
}

/** A fresh secp384r1 key pair; device_privatekey/publickey or lbs_privatekey/publickey. */
export function createEcdhKeyPair(): EcdhKeyPair {
  const ecdh = createECDH(ECDH_CURVE);
  ecdh.generateKeys();
  return {
    // getPrivateKey drops leading zero bytes; the key is a 48-byte scalar.
    privateKey: new Uint8Array(
      Buffer.concat([Buffer.alloc(PRIVATE_KEY_BYTES), ecdh.getPrivateKey()]).subarray(-PRIVATE_KEY_BYTES),
    ),
    publicKey: new Uint8Array(ecdh.getPublicKey(undefined, 'uncompressed')),
  };
}

/**
 * The master key: ecdh_NID_secp384r1(peer public key, own private key), then HKDF-SHA256 (no salt, info
 * MASTER_KEY_INFO) to 16 bytes, since AES-128 takes 16 of the 48 bytes and a raw x coordinate is not uniformly
 * random (NIST SP 800-56C). 'invalid-key' for a public key that is not a point of the curve.
 */
export function masterKey(ownPrivateKey: Uint8Array, peerPublicKey: Uint8Array): OsapResult<Uint8Array> {
  if (ownPrivateKey.length !== PRIVATE_KEY_BYTES)
    return fail('invalid-key', `a private key is ${PRIVATE_KEY_BYTES} bytes`);
  if (peerPublicKey.length !== PUBLIC_KEY_BYTES || peerPublicKey[0] !== 0x04)
    return fail('invalid-key', `a public key is ${PUBLIC_KEY_BYTES} bytes, uncompressed`);
  let secret: Buffer;
  try {
    const ecdh = createECDH(ECDH_CURVE);
    ecdh.setPrivateKey(ownPrivateKey);
    secret = ecdh.computeSecret(peerPublicKey);
  } catch {
    return fail('invalid-key', 'not a key of secp384r1');
  }
  return ok(new Uint8Array(hkdfSync('sha256', secret, new Uint8Array(0), MASTER_KEY_INFO, KEY_BYTES)));
}

/** A session key, drawn by the LBS for each DevID issued (0x8) and each refresh (0x6). */
export const createSessionKey = (): Uint8Array => new Uint8Array(randomBytes(KEY_BYTES));
