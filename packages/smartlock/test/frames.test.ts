/** Clause 8, Tables 3–8: the sealed byte frames between BGW and BSLD. */
import { createCipheriv } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  FRAME_TYPES,
  FrameError,
  HEADER_BYTES,
  MAX_FRAME_BYTES,
  TAG_BYTES,
  frameKeyRef,
  openFrame,
  sealFrame,
  type FrameErrorKind,
  type FrameInput,
} from '../src/index.js';
import { frame, key } from './arbitraries.js';

const KEY = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex');
const OTHER_KEY = Buffer.from('0f0e0d0c0b0a09080706050403020100', 'hex');
const VECTOR: FrameInput = {
  type: 'lockOperationRequest',
  lockId: '00a1b2c3d4e5f607',
  keyId: 1,
  counter: 42,
  deadline: 1796666460, // 2026-12-07T18:01:00Z
  nonce: '101112131415161718191a1b1c',
  action: 'unlock',
  userId: 'alice',
};
const kindOf = (result: ReturnType<typeof openFrame>): FrameErrorKind | 'ok' =>
  result.ok ? 'ok' : result.error.kind;

/**
 * What one flipped bit does: the magic nibble and the length field are read before authentication (malformed),
 * the version nibble too (unsupported-version); every other bit only fails the tag (integrity).
 */
function flipOutcome(bit: number): FrameErrorKind {
  const byte = bit >> 3;
  if (byte === 0) return bit % 8 < 4 ? 'malformed' : 'unsupported-version';
  if (byte === 19 || byte === 20) return 'malformed';
  return 'integrity';
}
const flip = (bytes: Buffer, bit: number) => {
  const copy = Buffer.from(bytes);
  copy[bit >> 3]! ^= 0x80 >> (bit % 8);
  return copy;
};

describe('sealFrame and openFrame', () => {
  it('open(seal(frame)) is the frame, for every frame type', () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(key, frame, (k, f) => {
        seen.add(f.type);
        expect(openFrame(k, sealFrame(k, f))).toEqual({ ok: true, value: f });
      }),
      { numRuns: 500 },
    );
    expect([...seen].sort()).toEqual(Object.keys(FRAME_TYPES).sort());
  });

  it('draws a fresh random nonce when none is given', () => {
    const noNonce = { ...VECTOR, nonce: undefined };
    const a = openFrame(KEY, sealFrame(KEY, noNonce));
    const b = openFrame(KEY, sealFrame(KEY, noNonce));
    expect(a.ok && b.ok && a.value.nonce !== b.value.nonce).toBe(true);
  });

  it('fails with integrity under another key', () => {
    fc.assert(
      fc.property(key, key, frame, (k1, k2, f) => {
        fc.pre(!k1.equals(k2));
        expect(kindOf(openFrame(k2, sealFrame(k1, f)))).toBe('integrity');
      }),
      { numRuns: 200 },
    );
  });

  it('fails as flipOutcome says for any single flipped bit of any frame', () => {
    fc.assert(
      fc.property(key, frame, fc.nat(), (k, f, n) => {
        const sealed = sealFrame(k, f);
        const bit = n % (sealed.length * 8);
        expect(kindOf(openFrame(k, flip(sealed, bit)))).toBe(flipOutcome(bit));
      }),
      { numRuns: 500 },
    );
  });

  it('fails as flipOutcome says for every single bit of the test vector', () => {
    const sealed = sealFrame(KEY, VECTOR);
    for (let bit = 0; bit < sealed.length * 8; bit++)
      expect(kindOf(openFrame(KEY, flip(sealed, bit))), `bit ${bit}`).toBe(flipOutcome(bit));
  });
});

describe('the test vector', () => {
  const VECTOR_HEX =
    'a1' + // magic 0xA, version 1
    '05' + // lockOperationRequest (Table 7)
    '00a1b2c3d4e5f607' + // lock ID
    '01' + // key ID
    '0000002a' + // counter 42
    '6b16f45c' + // deadline 1796666460 = 2026-12-07T18:01:00Z
    '0007' + // payload length 7
    '101112131415161718191a1b1c' + // nonce
    '7ee4112dd13f8b' + // encrypted payload: unlock (02), length 5, "alice"
    '7d7944de947231f8416c488813a5ead2'; // CCM tag

  it('is what sealFrame gives', () => {
    const sealed = sealFrame(KEY, VECTOR);
    expect(sealed.toString('hex')).toBe(VECTOR_HEX);
    expect(sealed).toHaveLength(HEADER_BYTES + 7 + TAG_BYTES);
    expect(openFrame(KEY, sealed)).toEqual({ ok: true, value: VECTOR });
  });

  it('is what a second computation gives: header and payload written out by hand, then AES-128-CCM directly', () => {
    const nonce = Buffer.from('101112131415161718191a1b1c', 'hex');
    const aad = Buffer.concat([
      Buffer.from([0xa1, 0x05]),
      Buffer.from('00a1b2c3d4e5f607', 'hex'),
      Buffer.from([0x01, 0x00, 0x00, 0x00, 0x2a, 0x6b, 0x16, 0xf4, 0x5c, 0x00, 0x07]),
      nonce,
    ]);
    const payload = Buffer.from([0x02, 0x05, ...Buffer.from('alice', 'utf8')]);
    const cipher = createCipheriv('aes-128-ccm', KEY, nonce, { authTagLength: 16 });
    cipher.setAAD(aad, { plaintextLength: payload.length });
    const ciphertext = Buffer.concat([cipher.update(payload), cipher.final()]);
    expect(Buffer.concat([aad, ciphertext, cipher.getAuthTag()]).toString('hex')).toBe(VECTOR_HEX);
  });
});

describe('openFrame refuses', () => {
  const sealed = sealFrame(KEY, VECTOR);
  const error = (kind: FrameErrorKind, detail: string) => ({
    ok: false,
    error: new FrameError(kind, detail),
  });

  it('trailing bytes, a truncated frame and an over-long one', () => {
    expect(openFrame(KEY, Buffer.concat([sealed, Buffer.of(0)]))).toEqual(
      error('malformed', 'length field does not match the frame size'),
    );
    expect(openFrame(KEY, sealed.subarray(0, -1))).toEqual(
      error('malformed', 'length field does not match the frame size'),
    );
    expect(openFrame(KEY, sealed.subarray(0, HEADER_BYTES + TAG_BYTES - 1))).toEqual(
      error('malformed', 'shorter than header and tag'),
    );
    expect(openFrame(KEY, Buffer.alloc(MAX_FRAME_BYTES + 1))).toEqual(
      error('too-long', `longer than ${MAX_FRAME_BYTES} bytes`),
    );
  });

  it('another magic or version', () => {
    expect(openFrame(KEY, Buffer.concat([Buffer.of(0xb1), sealed.subarray(1)]))).toEqual(
      error('malformed', 'bad magic'),
    );
    expect(openFrame(KEY, Buffer.concat([Buffer.of(0xa2), sealed.subarray(1)]))).toEqual(
      error('unsupported-version', 'version 2'),
    );
  });

  it('a key that is not 16 bytes, without throwing', () => {
    expect(openFrame(KEY.subarray(0, 15), sealed)).toEqual(error('invalid-key', 'key must be 16 bytes'));
  });

  it('an authentic frame of an unknown type or with a payload that does not fit its type', () => {
    const sealRaw = (type: number, payload: Buffer) => {
      const header = Buffer.from(sealed.subarray(0, HEADER_BYTES));
      header[1] = type;
      header.writeUInt16BE(payload.length, 19);
      const cipher = createCipheriv('aes-128-ccm', KEY, header.subarray(21), { authTagLength: 16 });
      cipher.setAAD(header, { plaintextLength: payload.length });
      const body = Buffer.concat([cipher.update(payload), cipher.final()]);
      return Buffer.concat([header, body, cipher.getAuthTag()]);
    };
    const alice = Buffer.from([0x05, ...Buffer.from('alice')]);
    expect(openFrame(KEY, sealRaw(0x05, Buffer.concat([Buffer.of(0x02), alice])))).toMatchObject({
      ok: true,
    });
    expect(openFrame(KEY, sealRaw(0x07, alice))).toEqual(error('malformed', 'unknown frame type'));
    expect(openFrame(KEY, sealRaw(0x05, Buffer.concat([Buffer.of(0x02), alice, Buffer.of(0)])))).toEqual(
      error('malformed', 'payload does not fit its type'),
    );
    expect(openFrame(KEY, sealRaw(0x05, Buffer.of(0x02, 0x09, 0x61)))).toEqual(
      error('malformed', 'payload does not fit its type'),
    );
    expect(openFrame(KEY, sealRaw(0x05, Buffer.concat([Buffer.of(0x03), alice])))).toEqual(
      error('malformed', 'action: Invalid option: expected one of "lock"|"unlock"'),
    );
    expect(openFrame(KEY, sealRaw(0x03, Buffer.of(0x02, 0xc3, 0x28)))).toEqual(
      error('malformed', 'userId: Invalid input: expected string, received undefined'),
    );
    expect(openFrame(KEY, sealRaw(0x04, Buffer.of(0x03, 0xe7)))).toEqual(
      error('malformed', 'status: unknown status code'),
    );
  });
});

describe('sealFrame refuses', () => {
  it('a bad key or frame with a FrameError', () => {
    expect(() => sealFrame(KEY.subarray(1), VECTOR)).toThrow(
      new FrameError('invalid-key', 'key must be 16 bytes'),
    );
    expect(() => sealFrame(KEY, { ...VECTOR, counter: 2 ** 32 })).toThrow(FrameError);
    expect(() =>
      sealFrame(KEY, {
        ...VECTOR,
        userId: 'a'.repeat(64) + '@' + 'b'.repeat(63) + '.' + 'c'.repeat(63) + '.' + 'd'.repeat(63),
      }),
    ).toThrow('invalid-frame: userId: user account ID longer than 255 UTF-8 bytes');
    expect(() => sealFrame(KEY, { ...VECTOR, userId: 'Alice' })).toThrow(
      'invalid-frame: userId: local part not canonical (lower case NFC)',
    );
  });
});

describe('frameKeyRef', () => {
  it('reads the claimed lock and key ID, after the same structural checks', () => {
    const sealed = sealFrame(OTHER_KEY, VECTOR);
    expect(frameKeyRef(sealed)).toEqual({ ok: true, value: { lockId: '00a1b2c3d4e5f607', keyId: 1 } });
    expect(frameKeyRef(sealed.subarray(1))).toMatchObject({ ok: false, error: { kind: 'malformed' } });
  });
});
