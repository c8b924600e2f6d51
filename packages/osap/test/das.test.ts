/** The DAS's topics and CONNECT proof (das.ts), the proof checked against WebCrypto as a second implementation. */
import { describe, expect, it } from 'vitest';
import {
  dasConnectCounter,
  dasConnectPassword,
  dasTopic,
  parseDasTopic,
  verifyDasConnectPassword,
} from '../src/index.js';

const sessionKey = Uint8Array.from({ length: 16 }, (_, i) => i);
const devId = 'AbCdEfGh12345678';
const bytes = (s: string) => new TextEncoder().encode(s);

async function webCryptoProof(counter: number): Promise<string> {
  const base = await crypto.subtle.importKey('raw', sessionKey, 'HKDF', false, ['deriveBits']);
  const bits = await crypto.subtle.deriveBits(
    { name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(0), info: bytes('OSAP DAS connect') },
    base,
    256,
  );
  const key = await crypto.subtle.importKey('raw', bits, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const counterBytes = new Uint8Array(4);
  new DataView(counterBytes.buffer).setUint32(0, counter);
  const message = new Uint8Array([...bytes('OSAP DAS CONNECT'), 0, ...bytes(devId), 0, ...counterBytes]);
  return Buffer.from(await crypto.subtle.sign('HMAC', key, message)).toString('base64url');
}

describe('DAS topics', () => {
  it('names one topic per DevID, channel and direction, and parses only those', () => {
    expect(dasTopic(devId, 'event', 'deviceToPlatform')).toBe(`osap/${devId}/event/up`);
    expect(dasTopic(devId, 'operation', 'platformToDevice')).toBe(`osap/${devId}/operation/down`);
    expect(parseDasTopic(`osap/${devId}/attribute/up`)).toEqual({
      devId,
      channel: 'attribute',
      direction: 'deviceToPlatform',
    });
    for (const topic of [
      `osap/${devId}/event`,
      `osap/${devId}/event/up/x`,
      `osap/+/event/up`,
      `osap/${devId}/#`,
      `osap/${devId}/media/up`,
      `other/${devId}/event/up`,
      `osap//event/up`,
    ])
      expect(parseDasTopic(topic)).toBeUndefined();
    expect(() => dasTopic('a/b', 'event', 'deviceToPlatform')).toThrow('not a DevID');
  });
});

describe('DAS CONNECT proof', () => {
  it('is the counter and the HMAC WebCrypto computes', async () => {
    const password = dasConnectPassword(sessionKey, devId, 7);
    expect(password).toBe(`7.${await webCryptoProof(7)}`);
    expect(verifyDasConnectPassword(sessionKey, devId, bytes(password))).toEqual({ ok: true, value: 7 });
    expect(dasConnectCounter(bytes(password))).toEqual({ ok: true, value: 7 });
  });

  it('is refused for another key, DevID or counter, and for anything malformed', () => {
    const password = dasConnectPassword(sessionKey, devId, 7);
    const otherKey = sessionKey.map((b) => b ^ 1);
    expect(verifyDasConnectPassword(otherKey, devId, bytes(password))).toMatchObject({
      ok: false,
      error: { code: 'integrity' },
    });
    expect(verifyDasConnectPassword(sessionKey, 'AbCdEfGh12345679', bytes(password))).toMatchObject({
      ok: false,
      error: { code: 'integrity' },
    });
    const moved = password.replace(/^7\./, '8.');
    expect(verifyDasConnectPassword(sessionKey, devId, bytes(moved))).toMatchObject({
      ok: false,
      error: { code: 'integrity' },
    });
    for (const bad of [
      undefined,
      bytes(''),
      bytes('7'),
      bytes('0.' + 'A'.repeat(43)),
      bytes(`4294967296.${'A'.repeat(43)}`),
      bytes(`7.${'A'.repeat(42)}`),
    ])
      expect(verifyDasConnectPassword(sessionKey, devId, bad)).toMatchObject({
        ok: false,
        error: { code: 'malformed' },
      });
    expect(() => dasConnectPassword(sessionKey, devId, 0)).toThrow('counter must be');
  });
});
