import { describe, expect, it } from 'vitest';
import { bareString, canonicalResource, jidToString, parseJid, sameBare } from '../src/jid.js';

describe('JIDs (RFC 7622)', () => {
  it.each([
    ['alice@as1.irsp.test', { local: 'alice', domain: 'as1.irsp.test', resource: undefined }],
    ['#Lock1@AS1.irsp.test/Main', { local: '#lock1', domain: 'as1.irsp.test', resource: 'Main' }],
    ['as1.irsp.test', { local: undefined, domain: 'as1.irsp.test', resource: undefined }],
    ['as1.irsp.test/x/y', { local: undefined, domain: 'as1.irsp.test', resource: 'x/y' }],
    ['a@127.0.0.1/r', { local: 'a', domain: '127.0.0.1', resource: 'r' }],
    ['a@as1.irsp.test./r', { local: 'a', domain: 'as1.irsp.test', resource: 'r' }],
    ['Ä@x.test', { local: 'ä', domain: 'x.test', resource: undefined }],
  ])('parses %j', (raw, jid) => {
    expect(parseJid(raw)).toEqual(jid);
  });

  it.each([
    '',
    '@as1.irsp.test',
    'a b@as1.irsp.test',
    'a"b@as1.irsp.test',
    "a'b@x.test",
    'a<b@x.test',
    'alice@',
    'alice@bad_domain-.test!',
    'alice@x.test/',
    `alice@x.test/${'r'.repeat(1024)}`,
    `${'a'.repeat(1024)}@x.test`,
    'alice@x.test/a\u0007b',
  ])('refuses %j', (raw) => {
    expect(parseJid(raw)).toBeUndefined();
  });

  it('keeps what it parsed, frozen, and parses the same text to the same JID', () => {
    const first = parseJid('Carol@x.test/Tablet')!;
    expect(parseJid('Carol@x.test/Tablet')).toBe(first);
    expect(first).toEqual({ local: 'carol', domain: 'x.test', resource: 'Tablet' });
    expect(Object.isFrozen(first)).toBe(true);
    // Long texts are parsed each time, and refusals are never kept.
    const long = `dave@x.test/${'r'.repeat(300)}`;
    expect(parseJid(long)).not.toBe(parseJid(long));
    expect(parseJid(long)).toEqual({ local: 'dave', domain: 'x.test', resource: 'r'.repeat(300) });
    expect(parseJid('a b@x.test')).toBeUndefined();
    expect(parseJid('a b@x.test')).toBeUndefined();
  });

  it('formats and compares', () => {
    const full = parseJid('Bob@x.test/phone')!;
    expect(jidToString(full)).toBe('bob@x.test/phone');
    expect(bareString(full)).toBe('bob@x.test');
    expect(sameBare(full, parseJid('bob@x.test/laptop')!)).toBe(true);
    expect(sameBare(full, parseJid('bob@y.test')!)).toBe(false);
  });

  describe('resourceparts: the OpaqueString profile (RFC 7622 §3.4, RFC 8265 §4.2)', () => {
    it.each([
      ['Main', 'Main'],
      // Spaces are allowed (RFC 7622 §3.5 "foo bar"); non-ASCII spaces become U+0020.
      ['foo bar', 'foo bar'],
      ['foo\u00a0bar', 'foo bar'],
      ['foo\u3000bar', 'foo bar'],
      [' ', ' '],
      ['\u2003', ' '],
      // NFC, case kept.
      ['Cafe\u0301', 'Caf\u00e9'],
      ['😀 phone', '😀 phone'],
      ['ß', 'ß'],
      // ZWJ after a virama (RFC 5892 A.2).
      ['\u0915\u094d\u200d\u0937', '\u0915\u094d\u200d\u0937'],
    ])('takes %j as %j', (raw, resource) => {
      expect(canonicalResource(raw)).toBe(resource);
    });

    it.each([
      ['empty', ''],
      ['ZERO WIDTH SPACE', '\u200b'],
      ['ZERO WIDTH SPACE in a word', 'pho\u200bne'],
      ['BYTE ORDER MARK', '\ufeff'],
      ['SOFT HYPHEN (default ignorable)', 'a\u00adb'],
      ['a control character', 'a\u0007b'],
      ['LINE SEPARATOR', 'a\u2028b'],
      ['private use', '\ue000'],
      ['a noncharacter', '\ufdd0'],
      ['an unassigned code point', '\u0378'],
      ['a lone surrogate', '\ud800'],
      ['old Hangul jamo', '\u1100'],
      ['ZERO WIDTH JOINER outside its context (an emoji sequence)', '👩\u200d💻'],
      ['more than 1023 octets', 'é'.repeat(512)],
    ])('refuses %s', (_what, raw) => {
      expect(canonicalResource(raw)).toBeUndefined();
      expect(parseJid(`alice@x.test/${raw}`)).toBeUndefined();
    });
  });
});
