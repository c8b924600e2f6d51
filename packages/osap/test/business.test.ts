/** Business payloads on DAS channels (section 7, Figure 8): vector, WebCrypto as second path, replay refusal. */
import { webcrypto } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  MAX_COUNTER,
  OsapError,
  openBusinessPayload,
  sealBusinessPayload,
  type Direction,
} from '../src/index.js';
import { bytes16 } from './arbitraries.js';

const { subtle } = webcrypto;
const fromHex = (text: string) => Uint8Array.from(Buffer.from(text, 'hex'));
const hex = (bytes: Uint8Array | ArrayBuffer) => Buffer.from(bytes as Uint8Array).toString('hex');
const utf8 = (text: string) => new TextEncoder().encode(text);

const SESSION_KEY = fromHex('22'.repeat(16));
const TOPIC = 'osap/DEV-0001/event';
const NONCE = fromHex('a0a1a2a3a4a5a6a7a8a9aaab');
const BODY = utf8('{"event":"motion"}');
const up = { sessionKey: SESSION_KEY, topic: TOPIC, direction: 'deviceToPlatform' as Direction };

describe('business payloads', () => {
  it('the fixed vector: LEN, PROTOCOL-VERSION, direction, counter in clear, the body sealed', async () => {
    const bytes = sealBusinessPayload({ ...up, counter: 7 }, BODY, NONCE);
    const clear = '0008' + '010100' + '01' + '00000007';
    const sealed =
      'a0a1a2a3a4a5a6a7a8a9aaab' + '30277e245503f3b4621f43bfdc6897fb0a90a7e18174a071dae6eeef377f3faeb853';
    expect(hex(bytes)).toBe(clear + sealed);
    const key = await subtle.importKey('raw', SESSION_KEY, 'AES-GCM', false, ['decrypt']);
    const aad = Buffer.concat([fromHex(clear), utf8(TOPIC)]);
    const body = await subtle.decrypt(
      { name: 'AES-GCM', iv: NONCE, additionalData: aad },
      key,
      fromHex(sealed).subarray(12),
    );
    expect(hex(body)).toBe(hex(BODY));
    expect(openBusinessPayload({ ...up, lastCounter: 6 }, bytes)).toEqual({
      ok: true,
      value: { counter: 7, body: BODY },
    });
  });

  it('seal → open is the identity; a counter not above the last accepted is a replay', () => {
    fc.assert(
      fc.property(
        bytes16,
        fc.string({ maxLength: 40 }),
        fc.constantFrom<Direction>('deviceToPlatform', 'platformToDevice'),
        fc.integer({ min: 1, max: MAX_COUNTER }),
        fc.uint8Array({ maxLength: 300 }),
        (sessionKey, topic, direction, counter, body) => {
          const envelope = { sessionKey, topic, direction };
          const bytes = sealBusinessPayload({ ...envelope, counter }, body);
          expect(openBusinessPayload({ ...envelope, lastCounter: counter - 1 }, bytes)).toEqual({
            ok: true,
            value: { counter, body },
          });
          expect(openBusinessPayload({ ...envelope, lastCounter: counter }, bytes)).toMatchObject({
            ok: false,
            error: { code: 'replay' },
          });
        },
      ),
      { numRuns: 200 },
    );
  });

  it('refuses another topic, a reflected message, another key and a changed counter', () => {
    const bytes = sealBusinessPayload({ ...up, counter: 7 }, BODY);
    const refusal = (envelope: Partial<typeof up>, payload = bytes) => {
      const result = openBusinessPayload({ ...up, ...envelope, lastCounter: 0 }, payload);
      return result.ok ? 'accepted' : result.error.code;
    };
    expect(refusal({})).toBe('accepted');
    expect(refusal({ topic: 'osap/DEV-0001/attribute' })).toBe('integrity');
    expect(refusal({ direction: 'platformToDevice' })).toBe('unexpected-message');
    expect(refusal({ sessionKey: new Uint8Array(16) })).toBe('integrity');
    const counted = Uint8Array.from(bytes);
    counted[9] = 8;
    expect(refusal({}, counted)).toBe('integrity');
    const versioned = Uint8Array.from(bytes);
    versioned[2] = 2;
    expect(refusal({}, versioned)).toBe('unsupported-version');
    expect(refusal({}, bytes.subarray(0, 1))).toBe('malformed');
    expect(refusal({}, Uint8Array.of(0, 7, 1, 1, 0, 1, 0, 0, 0))).toBe('malformed');
  });

  it('the sender refuses counters outside 1–2^32-1', () => {
    for (const counter of [0, -1, 1.5, MAX_COUNTER + 1])
      expect(() => sealBusinessPayload({ ...up, counter }, BODY)).toThrow(OsapError);
  });
});
