/** AES-128-GCM (section 5) against a fixed vector and WebCrypto as the independent implementation. */
import { webcrypto } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NONCE_BYTES, OsapError, open, seal } from '../src/index.js';

const { subtle } = webcrypto;
const fromHex = (text: string) => Uint8Array.from(Buffer.from(text, 'hex'));
const hex = (bytes: Uint8Array | ArrayBuffer) => Buffer.from(bytes as Uint8Array).toString('hex');
const utf8 = (text: string) => new TextEncoder().encode(text);

const KEY = fromHex('000102030405060708090a0b0c0d0e0f');
const NONCE = fromHex('a0a1a2a3a4a5a6a7a8a9aaab');
const SEALED =
  'a0a1a2a3a4a5a6a7a8a9aaab' + 'e5d579eb5eeb4679e316d0733532d20f3797' + '81ab723c4bd48e93a52558247f1efe13';

async function subtleSeal(key: Uint8Array, plaintext: Uint8Array, aad: Uint8Array, nonce: Uint8Array) {
  const k = await subtle.importKey('raw', key, 'AES-GCM', false, ['encrypt']);
  const sealed = await subtle.encrypt(
    { name: 'AES-GCM', iv: nonce, additionalData: aad, tagLength: 128 },
    k,
    plaintext,
  );
  return hex(nonce) + hex(sealed);
}

describe('seal / open: AES-128-GCM, nonce ‖ ciphertext ‖ tag', () => {
  it('gives the fixed vector, which WebCrypto computes too', async () => {
    const plaintext = utf8('OSAP business body');
    expect(hex(seal(KEY, plaintext, utf8('header'), NONCE))).toBe(SEALED);
    expect(await subtleSeal(KEY, plaintext, utf8('header'), NONCE)).toBe(SEALED);
    expect(open(KEY, fromHex(SEALED), utf8('header'))).toEqual({ ok: true, value: plaintext });
  });

  it('agrees with WebCrypto and opens what it seals, for any key, body and associated data', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.uint8Array({ maxLength: 200 }),
        fc.uint8Array({ maxLength: 50 }),
        fc.uint8Array({ minLength: NONCE_BYTES, maxLength: NONCE_BYTES }),
        async (key, plaintext, aad, nonce) => {
          const sealed = seal(key, plaintext, aad, nonce);
          expect(hex(sealed)).toBe(await subtleSeal(key, plaintext, aad, nonce));
          expect(open(key, sealed, aad)).toEqual({ ok: true, value: plaintext });
        },
      ),
      { numRuns: 100 },
    );
  });

  it('draws a fresh nonce for each seal', () => {
    const a = seal(KEY, utf8('x'), new Uint8Array(0));
    const b = seal(KEY, utf8('x'), new Uint8Array(0));
    expect(hex(a.subarray(0, NONCE_BYTES))).not.toBe(hex(b.subarray(0, NONCE_BYTES)));
  });

  it('refuses any changed byte, other associated data and another key as integrity failures', () => {
    const sealed = fromHex(SEALED);
    for (let i = 0; i < sealed.length; i++) {
      const changed = Uint8Array.from(sealed);
      changed[i] = changed[i]! ^ 0x01;
      expect(open(KEY, changed, utf8('header'))).toMatchObject({ ok: false, error: { code: 'integrity' } });
    }
    expect(open(KEY, sealed, utf8('Header'))).toMatchObject({ ok: false, error: { code: 'integrity' } });
    expect(open(new Uint8Array(16), sealed, utf8('header'))).toMatchObject({
      ok: false,
      error: { code: 'integrity' },
    });
    expect(open(KEY, sealed.subarray(0, 27), utf8('header'))).toMatchObject({
      ok: false,
      error: { code: 'malformed' },
    });
    expect(open(KEY.subarray(1), sealed, utf8('header'))).toMatchObject({
      ok: false,
      error: { code: 'invalid-key' },
    });
    expect(() => seal(KEY.subarray(1), sealed, utf8('header'))).toThrow(OsapError);
  });
});
