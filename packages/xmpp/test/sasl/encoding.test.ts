import { describe, expect, it } from 'vitest';
import { decodeSaslData, encodeSaslData } from '../../src/sasl/index.js';

describe('decodeSaslData (RFC 6120 §6.4.2)', () => {
  it('decodes canonical base64', () => {
    expect(decodeSaslData('biwsbj11c2VyLHI9YWJj')).toEqual(Buffer.from('n,,n=user,r=abc'));
    expect(decodeSaslData('AGEAYg==')).toEqual(Buffer.from('\0a\0b'));
    expect(decodeSaslData('AP8=')).toEqual(Buffer.from([0x00, 0xff]));
    expect(decodeSaslData('+/+/')).toEqual(Buffer.from([0xfb, 0xff, 0xbf]));
  });

  it("reads '=' as a present but empty response", () => {
    expect(decodeSaslData('=')).toEqual(Buffer.alloc(0));
    expect(decodeSaslData('')).toEqual(Buffer.alloc(0));
  });

  it.each([
    ['missing padding', 'YQ'],
    ['missing one pad character', 'YQ='],
    ['too much padding', 'YWI=='],
    ['three pad characters', 'Y==='],
    ['padding in the middle', 'YQ==YQ=='],
    ['non-zero pad bits', 'YR=='],
    ['non-zero pad bits (one pad)', 'YWJ='],
    ['a single character', 'Y'],
    ['base64url alphabet', 'a-_b'],
    ['whitespace inside', 'YW Jj'],
    ['a line break', 'YWJj\nYWJj'],
    ['surrounding whitespace', ' YWJj '],
    ['non-ASCII', 'YWJé'],
    ['double equals sign', '=='],
  ])('rejects %s as incorrect-encoding', (_name, text) => {
    expect(decodeSaslData(text)).toBe('incorrect-encoding');
  });
});

describe('encodeSaslData', () => {
  it("sends '=' for empty data and base64 otherwise", () => {
    expect(encodeSaslData(undefined)).toBe('=');
    expect(encodeSaslData(Buffer.alloc(0))).toBe('=');
    expect(encodeSaslData(Buffer.from('v=rmF9pqV8S7suAoZWja4dJRkFsKQ='))).toBe(
      'dj1ybUY5cHFWOFM3c3VBb1pXamE0ZEpSa0ZzS1E9',
    );
  });

  it('round-trips through decodeSaslData', () => {
    for (const length of [1, 2, 3, 4, 5, 31, 32, 33]) {
      const data = Buffer.from(Array.from({ length }, (_, i) => (i * 37 + length) % 256));
      expect(decodeSaslData(encodeSaslData(data))).toEqual(data);
    }
  });
});
