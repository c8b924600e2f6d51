import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CONTROL_MESSAGE_TYPES,
  MAX_FRAME_BYTES,
  MAX_REMAINING_LENGTH,
  OSAP_VERSION,
  OsapError,
  buildFrame,
  decodeFixedHeader,
  encodeFixedHeader,
  frameLength,
  parseFrame,
  type Frame,
} from '../src/index.js';
import { frame } from './arbitraries.js';

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');
const bytes = (text: string) => Uint8Array.from(Buffer.from(text.replace(/\s/g, ''), 'hex'));

describe('fixed header (section 5, Figure 2)', () => {
  it('is 2 to 5 bytes: MQTT remaining length at each boundary', () => {
    const cases: [number, string][] = [
      [0, '1100'],
      [127, '117f'],
      [128, '118001'],
      [16_383, '11ff7f'],
      [16_384, '11808001'],
      [2_097_151, '11ffff7f'],
      [2_097_152, '1180808001'],
      [MAX_REMAINING_LENGTH, '11ffffff7f'],
    ];
    for (const [length, expected] of cases) {
      expect(hex(encodeFixedHeader(0x1, 0x1, length))).toBe(expected);
      expect(decodeFixedHeader(bytes(expected))).toEqual({
        ok: true,
        value: { type: 1, controlFlag: 1, remainingLength: length, length: expected.length / 2 },
      });
    }
  });

  it('decode(encode(n)) is n for every remaining length', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 15 }),
        fc.integer({ min: 0, max: 15 }),
        fc.integer({ min: 0, max: MAX_REMAINING_LENGTH }),
        (type, flag, length) => {
          const encoded = encodeFixedHeader(type, flag, length);
          expect(decodeFixedHeader(encoded)).toEqual({
            ok: true,
            value: { type, controlFlag: flag, remainingLength: length, length: encoded.length },
          });
        },
      ),
    );
  });

  it('refuses a fifth length byte, a longer encoding than needed, and says when it is cut short', () => {
    expect(decodeFixedHeader(bytes('11ffffffff01'))).toMatchObject({
      ok: false,
      error: { code: 'malformed' },
    });
    expect(decodeFixedHeader(bytes('118000'))).toMatchObject({ ok: false, error: { code: 'malformed' } });
    expect(decodeFixedHeader(bytes('11'))).toMatchObject({ ok: false, error: { code: 'truncated' } });
    expect(decodeFixedHeader(bytes('1180'))).toMatchObject({ ok: false, error: { code: 'truncated' } });
    expect(decodeFixedHeader(new Uint8Array(0))).toMatchObject({ ok: false, error: { code: 'truncated' } });
  });
});

describe('control messages (section 6, Figures 3–5, Table 3)', () => {
  it('build → parse is the identity', () => {
    fc.assert(
      fc.property(frame, (f) => {
        expect(parseFrame(buildFrame(f))).toEqual({ ok: true, value: f });
      }),
      { numRuns: 300 },
    );
  });

  it('frameLength measures a message in a stream, waits for the rest, then finds the next one', () => {
    fc.assert(
      fc.property(frame, frame, fc.nat(), (a, b, cut) => {
        const first = buildFrame(a);
        const stream = Buffer.concat([first, buildFrame(b)]);
        expect(frameLength(stream)).toEqual({ ok: true, value: first.length });
        const partial = stream.subarray(0, cut % first.length);
        expect(frameLength(partial)).toEqual({ ok: true, value: undefined });
      }),
      { numRuns: 200 },
    );
  });

  it('lays a negotiation request out byte by byte (Figure 4: type 0x1, flag 0x1, type 1, group (1,2,4,8))', () => {
    const request: Frame = {
      type: 'Authentication_ECDH_Req',
      controlFlag: 0x1,
      version: OSAP_VERSION,
      protocolType: 1,
      protocolGroup: [1, 2, 4, 8],
      serialNumber: 'SN1',
      transaction: Uint8Array.of(0xaa, 0xbb),
    };
    // 11 | 0d | 01 0f 03 'SN1' | 0005 | 010100 | aabb
    expect(hex(buildFrame(request))).toBe('110d' + '010f03534e31' + '0005' + '010100' + 'aabb');
    const response: Frame = {
      type: 'Authentication_ECDH_Rsp',
      controlFlag: 0x1,
      version: OSAP_VERSION,
      protocolType: 2,
      protocolGroup: [2, 4, 8],
      transaction: new Uint8Array(0),
    };
    expect(hex(buildFrame(response))).toBe('2107' + '020e' + '0003' + '010100');
  });

  it('refuses reserved and undefined types, the original mode, other versions, trailing and missing bytes', () => {
    const valid = buildFrame({
      type: 'Authentication_apply_devid_Cfm',
      controlFlag: 1,
      version: OSAP_VERSION,
      transaction: Uint8Array.of(7),
    });
    expect(hex(valid)).toBe('9106' + '0004' + '010100' + '07');
    const edit = (at: number, value: number) => {
      const copy = Uint8Array.from(valid);
      copy[at] = value;
      return parseFrame(copy);
    };
    expect(edit(0, 0x31)).toMatchObject({ ok: false, error: { code: 'reserved-type' } });
    expect(edit(0, 0x51)).toMatchObject({ ok: false, error: { code: 'reserved-type' } });
    expect(edit(0, 0x01)).toMatchObject({ ok: false, error: { code: 'unknown-type' } });
    expect(edit(0, 0xc1)).toMatchObject({ ok: false, error: { code: 'unknown-type' } });
    expect(edit(0, 0x90)).toMatchObject({ ok: false, error: { code: 'unsupported-mode' } });
    expect(edit(0, 0x92)).toMatchObject({ ok: false, error: { code: 'unsupported-mode' } });
    expect(edit(0, 0x9f)).toMatchObject({ ok: true, value: { controlFlag: 0xf } });
    expect(edit(4, 2)).toMatchObject({ ok: false, error: { code: 'unsupported-version' } });
    expect(edit(5, 2)).toMatchObject({ ok: false, error: { code: 'unsupported-version' } });
    expect(edit(6, 9)).toMatchObject({ ok: true, value: { version: { LOW_TYPE_VERSION: 9 } } });
    expect(edit(3, 3)).toMatchObject({ ok: false, error: { code: 'malformed' } });
    expect(edit(3, 5)).toMatchObject({ ok: false, error: { code: 'malformed' } });
    expect(parseFrame(Buffer.concat([valid, Uint8Array.of(0)]))).toMatchObject({
      ok: false,
      error: { code: 'malformed' },
    });
    expect(parseFrame(valid.subarray(0, 5))).toMatchObject({ ok: false, error: { code: 'truncated' } });
    expect(parseFrame(Uint8Array.of(0x91, 0x02, 0x00, 0x00))).toMatchObject({
      ok: false,
      error: { code: 'malformed' },
    });
  });

  it('refuses an empty protocol group and a serial number that is not printable ASCII', () => {
    const refusal = (text: string) => {
      const result = parseFrame(bytes(text));
      return result.ok ? 'accepted' : `${result.error.code} ${result.error.detail.split(':')[0]}`;
    };
    // 11 | 0b | type 01, group 0f, 03 'SN1' | 0003 | 010100
    expect(refusal('110b 010f03534e31 0003 010100')).toBe('accepted');
    expect(refusal('110b 010003534e31 0003 010100')).toBe('malformed protocolGroup');
    expect(refusal('110b 010f03534e20 0003 010100')).toBe('malformed serialNumber');
    expect(refusal('110b 010f03534eff 0003 010100')).toBe('malformed serialNumber');
  });

  it('frameLength refuses a length above the largest control message before it is all there', () => {
    expect(frameLength(encodeFixedHeader(1, 1, MAX_FRAME_BYTES))).toMatchObject({
      ok: false,
      error: { code: 'too-long' },
    });
    expect(frameLength(Uint8Array.of(0x11, 0xff, 0xff, 0xff, 0xff, 0x7f))).toMatchObject({
      ok: false,
      error: { code: 'malformed' },
    });
  });

  it('builders refuse values outside the schema with a typed error', () => {
    const base = { controlFlag: 1, version: OSAP_VERSION, transaction: new Uint8Array(0) };
    const bad = [
      { ...base, type: 'Authentication_ECDH_Rsp', protocolType: 1, protocolGroup: [] },
      { ...base, type: 'Authentication_ECDH_Rsp', protocolType: 1, protocolGroup: [3] },
      { ...base, type: 'Authentication_ECDH_Rsp', protocolType: 1, protocolGroup: [4, 2] },
      { ...base, type: 'Authentication_ECDH_Rsp', protocolType: 256, protocolGroup: [1] },
      { ...base, type: 'Refresh_SessionKey_Req', devId: '' },
      { ...base, type: 'Refresh_SessionKey_Req', devId: 'x'.repeat(65) },
      { ...base, type: 'Get_AccessService_Req', controlFlag: 16 },
      { ...base, type: 'Get_AccessService_Req', transaction: new Uint8Array(65_533) },
      { ...base, type: 'Rsrv' },
    ];
    for (const input of bad) {
      expect(() => buildFrame(input as Frame)).toThrow(OsapError);
      try {
        buildFrame(input as Frame);
      } catch (error) {
        expect((error as OsapError).code).toBe('invalid-input');
      }
    }
    expect(CONTROL_MESSAGE_TYPES).not.toHaveProperty('Rsrv');
  });
});
