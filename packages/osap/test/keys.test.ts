/**
 * Keys (section 6) against fixed vectors of our own, each also computed by a second path: MD5 written out
 * (md5.ts), PBKDF2, ECDH and HKDF by WebCrypto, ECDH again by diffieHellman() on KeyObjects.
 */
import { createECDH, createPrivateKey, createPublicKey, diffieHellman, webcrypto } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  MASTER_KEY_INFO,
  OsapError,
  SHARE_KEY_CONSTANT,
  SHARE_KEY_DEFAULTS,
  createEcdhKeyPair,
  createSessionKey,
  masterKey,
  shareKey,
  shareKeyAsync,
} from '../src/index.js';
import { md5Reference } from './md5.js';

const { subtle } = webcrypto;
const hex = (bytes: Uint8Array | ArrayBuffer) => Buffer.from(bytes as Uint8Array).toString('hex');
const fromHex = (text: string) => Uint8Array.from(Buffer.from(text, 'hex'));
const utf8 = (text: string) => new TextEncoder().encode(text);

const CODE = 'ABCDEF';
const SERIAL = 'DS-2CD2143G0-I20240101AAWR123456789';
const DEVICE_PRIVATE =
  '0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f30';
const DEVICE_PUBLIC =
  '04c76f2283dda95cd49b0ed9e733d2904474e37216f124e13d2c9ab4cf01021c49ad9cabb3d0b97499aef2f0ab313fa02826bc1f83451b5c8962a75caff73588d4400a6296436154fb343c393e91048a6c7bcbadc83cd8a5f26feae883156f92a1';
const LBS_PRIVATE =
  '807f7e7d7c7b7a797877767574737271706f6e6d6c6b6a696867666564636261605f5e5d5c5b5a595857565554535251';
const LBS_PUBLIC =
  '04ab514eec71030d912086d064f457a427517ffde5d6b8717dbb6fdc5cc19b2469926e56afb453d0266f3ed85462b729775823ad9a3efe645e67d0a00bb40f47342b38cc31b4b258440a0f58b95975f807a4b5698012dec4334abd0da90f083b55';
const SHARED_SECRET =
  '28f6ed798a2610937d48dc28a56b577dfda21d6314ba8b277af0ec7f6d6ac8089d59eef9ff6f8494fc7646c8db25e5e6';
const MASTER_KEY = 'c36b3cdf88f13c16a2d7eddb31218adc';

async function pbkdf2Subtle(password: string, salt: Uint8Array, iterations: number, bytes: number) {
  const base = await subtle.importKey('raw', utf8(password), 'PBKDF2', false, ['deriveBits']);
  return hex(await subtle.deriveBits({ name: 'PBKDF2', hash: 'SHA-256', salt, iterations }, base, bytes * 8));
}

describe('share key: pdkdf2_SHA256(md5(md5(MD5(code + serial) + www.88075998.com)))', () => {
  it('MD5 written out passes the RFC 1321 test suite', () => {
    const suite: [string, string][] = [
      ['', 'd41d8cd98f00b204e9800998ecf8427e'],
      ['a', '0cc175b9c0f1b6a831c399e269772661'],
      ['abc', '900150983cd24fb0d6963f7d28e17f72'],
      ['message digest', 'f96b697d7cb7938d525a2f31aaf161d0'],
      ['abcdefghijklmnopqrstuvwxyz', 'c3fcd3d76192e4007dfb496cca67e13b'],
      ['1234567890'.repeat(8), '57edf4a22be3c955ac49da2e2107b67a'],
    ];
    for (const [text, digest] of suite) expect(hex(md5Reference(utf8(text)))).toBe(digest);
  });

  it('gives the fixed vector, step by step with the second MD5 and WebCrypto PBKDF2', async () => {
    const md5 = (text: string) => hex(md5Reference(utf8(text)));
    const first = md5(CODE + SERIAL);
    const second = md5(first + SHARE_KEY_CONSTANT);
    const third = md5(second);
    expect([first, second, third]).toEqual([
      '04bf706a9cd52d1d05a370378427fcf7',
      'ac5d3fe1f5dce181c08ea5a5573d7cfa',
      '2c7dced591bd5cad74e6f6fa4e07c96e',
    ]);
    expect(SHARE_KEY_DEFAULTS).toEqual({ iterations: 100_000, keyLength: 16 });
    const expected = '77fde85b30648fa824162cda62bb1c83';
    expect(await pbkdf2Subtle(third, utf8(SERIAL), 100_000, 16)).toBe(expected);
    expect(hex(shareKey(CODE, SERIAL))).toBe(expected);
  });

  it('takes its iterations, salt and length from the options', async () => {
    const options = { iterations: 1000, salt: utf8('irsp-osap'), keyLength: 32 };
    const expected = 'cbd8b206b4615252790be23f756028f8690393c51c98ccc2dd680056f5118a70';
    expect(await pbkdf2Subtle('2c7dced591bd5cad74e6f6fa4e07c96e', options.salt, 1000, 32)).toBe(expected);
    expect(hex(shareKey(CODE, SERIAL, options))).toBe(expected);
    expect(hex(await shareKeyAsync(CODE, SERIAL, options))).toBe(expected);
  });

  it('refuses a code, serial number or option outside the schema with a typed error', async () => {
    const cases: [string, string, object][] = [
      ['', SERIAL, {}],
      ['ABC DEF', SERIAL, {}],
      [CODE, 'é', {}],
      [CODE, SERIAL, { iterations: 0 }],
      [CODE, SERIAL, { keyLength: 8 }],
      [CODE, SERIAL, { rounds: 5 }],
    ];
    for (const [code, serial, options] of cases) {
      expect(() => shareKey(code, serial, options)).toThrow(OsapError);
      await expect(shareKeyAsync(code, serial, options)).rejects.toThrow(OsapError);
    }
  });
});

describe('master key: ecdh_NID_secp384r1, then HKDF-SHA256 to 16 bytes', () => {
  it('gives the fixed vector on both sides', () => {
    const device = createECDH('secp384r1');
    device.setPrivateKey(fromHex(DEVICE_PRIVATE));
    expect(device.getPublicKey('hex', 'uncompressed')).toBe(DEVICE_PUBLIC);
    expect(masterKey(fromHex(DEVICE_PRIVATE), fromHex(LBS_PUBLIC))).toEqual({
      ok: true,
      value: fromHex(MASTER_KEY),
    });
    expect(masterKey(fromHex(LBS_PRIVATE), fromHex(DEVICE_PUBLIC))).toEqual({
      ok: true,
      value: fromHex(MASTER_KEY),
    });
  });

  it('is what WebCrypto (ECDH deriveBits, HKDF) and diffieHellman() on KeyObjects compute', async () => {
    const b64 = (text: string) => Buffer.from(text, 'hex').toString('base64url');
    const publicJwk = (pub: string) => ({
      kty: 'EC',
      crv: 'P-384',
      x: b64(pub.slice(2, 98)),
      y: b64(pub.slice(98)),
    });
    const privateJwk = (priv: string, pub: string) => ({ ...publicJwk(pub), d: b64(priv) });
    const curve = { name: 'ECDH', namedCurve: 'P-384' };
    const devicePrivate = await subtle.importKey(
      'jwk',
      privateJwk(DEVICE_PRIVATE, DEVICE_PUBLIC),
      curve,
      false,
      ['deriveBits'],
    );
    const lbsPublic = await subtle.importKey('jwk', publicJwk(LBS_PUBLIC), curve, false, []);
    const secret = await subtle.deriveBits({ name: 'ECDH', public: lbsPublic }, devicePrivate, 384);
    expect(hex(secret)).toBe(SHARED_SECRET);
    const ikm = await subtle.importKey('raw', secret, 'HKDF', false, ['deriveBits']);
    const derived = await subtle.deriveBits(
      { name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(0), info: utf8(MASTER_KEY_INFO) },
      ikm,
      128,
    );
    expect(hex(derived)).toBe(MASTER_KEY);

    const keyObjectSecret = diffieHellman({
      privateKey: createPrivateKey({ key: privateJwk(LBS_PRIVATE, LBS_PUBLIC), format: 'jwk' }),
      publicKey: createPublicKey({ key: publicJwk(DEVICE_PUBLIC), format: 'jwk' }),
    });
    expect(hex(keyObjectSecret)).toBe(SHARED_SECRET);
  });

  it('agrees on both sides for fresh key pairs, whose private keys are always 48 bytes', () => {
    for (let i = 0; i < 20; i++) {
      const device = createEcdhKeyPair();
      const lbs = createEcdhKeyPair();
      expect(device.publicKey).toHaveLength(97);
      expect(device.privateKey).toHaveLength(48);
      const a = masterKey(device.privateKey, lbs.publicKey);
      const b = masterKey(lbs.privateKey, device.publicKey);
      expect(a.ok && b.ok && hex(a.value) === hex(b.value)).toBe(true);
    }
  });

  it('refuses a public key that is not a point of secp384r1, or keys of the wrong size', () => {
    const notOnCurve = fromHex(LBS_PUBLIC);
    notOnCurve[96] = notOnCurve[96]! ^ 1;
    const cases: [Uint8Array, Uint8Array][] = [
      [fromHex(DEVICE_PRIVATE), notOnCurve],
      [fromHex(DEVICE_PRIVATE), fromHex(LBS_PUBLIC).subarray(0, 49)],
      [fromHex(DEVICE_PRIVATE), Uint8Array.of(0x02, ...fromHex(LBS_PUBLIC).subarray(1))],
      [fromHex(DEVICE_PRIVATE).subarray(1), fromHex(LBS_PUBLIC)],
    ];
    for (const [priv, pub] of cases)
      expect(masterKey(priv, pub)).toMatchObject({ ok: false, error: { code: 'invalid-key' } });
  });
});

describe('session key', () => {
  it('is 16 random bytes, a new one each time', () => {
    const keys = new Set(Array.from({ length: 50 }, () => hex(createSessionKey())));
    expect(keys.size).toBe(50);
    for (const key of keys) expect(key).toHaveLength(32);
  });
});
