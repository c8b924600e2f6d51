/** The authentication flow's messages (section 6 a–b, section 7): vectors, WebCrypto as second path, identity. */
import { webcrypto } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  OSAP_VERSION,
  OsapError,
  SEAL_OVERHEAD,
  buildAuthMessage,
  buildFrame,
  seal,
  openAuthMessage,
  parseFrame,
  type AuthMessage,
  type Frame,
} from '../src/index.js';
import { authMessage, bytes16 } from './arbitraries.js';

const { subtle } = webcrypto;
const fromHex = (text: string) => Uint8Array.from(Buffer.from(text, 'hex'));
const hex = (bytes: Uint8Array | ArrayBuffer) => Buffer.from(bytes as Uint8Array).toString('hex');

const NONCE = fromHex('a0a1a2a3a4a5a6a7a8a9aaab');
const SHARE_KEY = fromHex('77fde85b30648fa824162cda62bb1c83');
const MASTER_KEY = fromHex('c36b3cdf88f13c16a2d7eddb31218adc');
const SERIAL = 'DS-2CD2143G0-I20240101AAWR123456789';
const DEVICE_PUBLIC = fromHex(
  '04c76f2283dda95cd49b0ed9e733d2904474e37216f124e13d2c9ab4cf01021c49ad9cabb3d0b97499aef2f0ab313fa02826bc1f83451b5c8962a75caff73588d4400a6296436154fb343c393e91048a6c7bcbadc83cd8a5f26feae883156f92a1',
);

function parsed(bytes: Uint8Array): Frame {
  const frame = parseFrame(bytes);
  if (!frame.ok) throw frame.error;
  return frame.value;
}

/** Opens a message's transaction with WebCrypto, the associated data being every byte before it. */
async function subtleOpen(key: Uint8Array, bytes: Uint8Array): Promise<string> {
  const { transaction } = parsed(bytes);
  const aad = bytes.subarray(0, bytes.length - transaction.length);
  const k = await subtle.importKey('raw', key, 'AES-GCM', false, ['decrypt']);
  const plain = await subtle.decrypt(
    { name: 'AES-GCM', iv: transaction.subarray(0, 12), additionalData: aad, tagLength: 128 },
    k,
    transaction.subarray(12),
  );
  return hex(plain);
}

describe('authentication messages', () => {
  it('Authentication_ECDH_Req: the fixed vector, its public key sealed under the share key', async () => {
    const message: AuthMessage = {
      type: 'Authentication_ECDH_Req',
      protocolType: 1,
      protocolGroup: [1, 2, 4, 8],
      serialNumber: SERIAL,
      devicePublicKey: DEVICE_PUBLIC,
    };
    const bytes = buildAuthMessage(SHARE_KEY, message, NONCE);
    expect(hex(bytes)).toBe(
      '11a801' + // type 0x1, flag 0x1, remaining length 168
        '01' +
        '0f' +
        '23' +
        hex(new TextEncoder().encode(SERIAL)) + // type 1, group (1,2,4,8), serial number
        '0080' +
        '010100' + // LEN 128, PROTOCOL-VERSION 1.1.0
        'a0a1a2a3a4a5a6a7a8a9aaab' + // nonce
        'a5d4067ad1c8ce5af1132a63a39600ec825860cc9922460c7703952379160c215026b6ef03bf19543964cc96eb686100be0f7ae809755852c7a9a7f9da7f61975a1c8381e35738814db9a9a10ce8404132c52c56a2f8c911f7091680149a12edf53e651f64fe869a8da8c8b6fee9a8860d',
    );
    expect(await subtleOpen(SHARE_KEY, bytes)).toBe(hex(DEVICE_PUBLIC));
    expect(openAuthMessage(SHARE_KEY, parsed(bytes))).toEqual({ ok: true, value: message });
  });

  it('Authentication_apply_devid_Rsp: the fixed vector, challenge, session key and DevID under the master key', async () => {
    const message: AuthMessage = {
      type: 'Authentication_apply_devid_Rsp',
      challenge: fromHex('11'.repeat(16)),
      sessionKey: fromHex('22'.repeat(16)),
      devId: 'DEV-0001',
    };
    const bytes = buildAuthMessage(MASTER_KEY, message, NONCE);
    expect(hex(bytes)).toBe(
      '814a' +
        '0048' +
        '010100' +
        'a0a1a2a3a4a5a6a7a8a9aaab' +
        '117b3ab1566eb2a2d7a37c3c4a1b205d50401307f6bb2afa09f2e187167bef5d883332410d6c25feab3b3248073ccdab7c4a67becffe5ba658',
    );
    expect(await subtleOpen(MASTER_KEY, bytes)).toBe(
      '11'.repeat(16) + '22'.repeat(16) + '08' + hex(new TextEncoder().encode('DEV-0001')),
    );
    expect(openAuthMessage(MASTER_KEY, parsed(bytes))).toEqual({ ok: true, value: message });
  });

  it('the inconsistent Authentication_ECDH_Rsp carries no key and opens without one', () => {
    const message: AuthMessage = {
      type: 'Authentication_ECDH_Rsp',
      protocolType: 2,
      protocolGroup: [2, 4, 8],
    };
    const bytes = buildAuthMessage(SHARE_KEY, message);
    expect(hex(bytes)).toBe('2107' + '020e' + '0003' + '010100');
    expect(openAuthMessage(new Uint8Array(16), parsed(bytes))).toEqual({ ok: true, value: message });
  });

  it('build → parse → open is the identity for every message', () => {
    fc.assert(
      fc.property(authMessage, bytes16, (message, key) => {
        expect(openAuthMessage(key, parsed(buildAuthMessage(key, message)))).toEqual({
          ok: true,
          value: message,
        });
      }),
      { numRuns: 300 },
    );
  });

  it('refuses another key, and any change to the bytes in clear, as integrity failures', () => {
    fc.assert(
      fc.property(authMessage, bytes16, bytes16, (message, key, other) => {
        const bytes = buildAuthMessage(key, message);
        const frame = parsed(bytes);
        if (frame.transaction.length === 0) return;
        if (hex(key) !== hex(other))
          expect(openAuthMessage(other, frame)).toMatchObject({ ok: false, error: { code: 'integrity' } });
        const changed: Frame = { ...frame, controlFlag: frame.controlFlag ^ 0x8 };
        expect(openAuthMessage(key, changed)).toMatchObject({ ok: false, error: { code: 'integrity' } });
        const lowVersion = { ...frame, version: { ...frame.version, LOW_TYPE_VERSION: 7 } };
        expect(openAuthMessage(key, lowVersion)).toMatchObject({ ok: false, error: { code: 'integrity' } });
      }),
      { numRuns: 100 },
    );
    const request = parsed(
      buildAuthMessage(MASTER_KEY, {
        type: 'Refresh_SessionKey_Req',
        devId: 'DEV-0001',
        challenge: new Uint8Array(16),
      }),
    );
    expect(openAuthMessage(MASTER_KEY, { ...request, devId: 'DEV-0002' } as Frame)).toMatchObject({
      ok: false,
      error: { code: 'integrity' },
    });
  });

  it('refuses a sealed content that does not fit its type (sealed so by a holder of the key) as malformed', () => {
    const sealedAs = (type: Frame['type'], plaintext: Uint8Array): Frame => {
      const base = { type, controlFlag: 1, version: OSAP_VERSION } as const;
      const placeholder = buildFrame({
        ...base,
        transaction: new Uint8Array(plaintext.length + SEAL_OVERHEAD),
      } as Frame);
      const aad = placeholder.subarray(0, placeholder.length - plaintext.length - SEAL_OVERHEAD);
      return { ...base, transaction: seal(MASTER_KEY, plaintext, aad) } as Frame;
    };
    const cases: [Frame['type'], Uint8Array][] = [
      ['Get_AccessService_Rsp', new Uint8Array(16)], // no port, no host
      ['Get_AccessService_Rsp', new Uint8Array(18)], // no host
      ['Authentication_apply_devid_Rsp', new Uint8Array(33)], // DevID length 0
      ['Authentication_apply_devid_Rsp', Uint8Array.of(...new Uint8Array(32), 2, 0x41)], // DevID cut short
      ['Authentication_apply_devid_Rsp', Uint8Array.of(...new Uint8Array(32), 1, 0x41, 0)], // bytes after it
      ['Authentication_apply_devid_Cfm', Uint8Array.of(0xff)], // not UTF-8
      ['Refresh_SessionKey_Rsp', new Uint8Array(31)], // session key too short
      ['Get_AccessService_Req', new Uint8Array(17)], // challenge too long
    ];
    for (const [type, plaintext] of cases)
      expect(openAuthMessage(MASTER_KEY, sealedAs(type, plaintext))).toMatchObject({
        ok: false,
        error: { code: 'malformed' },
      });
    expect(
      openAuthMessage(
        MASTER_KEY,
        sealedAs('Get_AccessService_Rsp', Uint8Array.of(...new Uint8Array(16), 7, 91, 0x68)),
      ),
    ).toMatchObject({
      ok: true,
      value: { das: { host: 'h', port: 1883 } },
    });
  });

  it('builders, and openAuthMessage given a frame parseFrame would not return, refuse values outside the schema', () => {
    const bad = [
      {
        type: 'Authentication_ECDH_Req',
        protocolType: 1,
        protocolGroup: [1],
        serialNumber: 'S',
        devicePublicKey: new Uint8Array(65),
      },
      { type: 'Authentication_apply_devid_Req', challenge: new Uint8Array(15) },
      {
        type: 'Get_AccessService_Rsp',
        challenge: new Uint8Array(16),
        das: { host: 'das example', port: 1883 },
      },
      { type: 'Get_AccessService_Rsp', challenge: new Uint8Array(16), das: { host: 'das', port: 0 } },
      {
        type: 'Refresh_SessionKey_Rsp',
        challenge: new Uint8Array(16),
        sessionKey: new Uint8Array(16),
        extra: 1,
      },
    ];
    for (const message of bad)
      expect(() => buildAuthMessage(MASTER_KEY, message as AuthMessage)).toThrow(OsapError);
    expect(() =>
      buildAuthMessage(new Uint8Array(8), { type: 'Get_AccessService_Req', challenge: new Uint8Array(16) }),
    ).toThrow(OsapError);
    for (const frame of [{ type: 'Rsrv' }, null, { type: 'Get_AccessService_Req', controlFlag: 1 }])
      expect(openAuthMessage(MASTER_KEY, frame as unknown as Frame)).toMatchObject({
        ok: false,
        error: { code: 'invalid-input' },
      });
  });
});
