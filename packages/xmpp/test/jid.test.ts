import { describe, expect, it } from 'vitest';
import { bareString, jidToString, parseJid, sameBare } from '../src/jid.js';

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
});
