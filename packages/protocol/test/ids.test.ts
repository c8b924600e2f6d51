/** User IDs, device IDs and server addresses of clause 3.1. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  MAX_LOCAL_PART_OCTETS,
  canonicalLocalPart,
  formatAccountId,
  formatServerAddress,
  isDomainName,
  localPartProblem,
  localPartSchema,
  parseAccountId,
  parseServerAddress,
} from '../src/ids.js';
import { domain, localPart } from './arbitraries.js';

const failure = (reason: string) => ({ ok: false, reason });

describe('parseAccountId', () => {
  it('parses a user ID into canonical parts', () => {
    expect(parseAccountId('Alice@AS1.IRSP.Test', 'user')).toEqual({
      ok: true,
      id: { kind: 'user', local: 'alice', domain: 'as1.irsp.test' },
    });
  });

  it('parses a device ID whose local part starts with #', () => {
    expect(parseAccountId('#Lock-01@as1.irsp.test', 'device')).toEqual({
      ok: true,
      id: { kind: 'device', local: '#lock-01', domain: 'as1.irsp.test' },
    });
    expect(parseAccountId('##@a', 'device')).toEqual({
      ok: true,
      id: { kind: 'device', local: '##', domain: 'a' },
    });
  });

  it('canonicalises to NFC lower case', () => {
    expect(parseAccountId('E\u0301MILE@x.test', 'user')).toEqual({
      ok: true,
      id: { kind: 'user', local: 'émile', domain: 'x.test' },
    });
  });

  it.each([
    ['alice', 'user', 'ID must be local part @ domain'],
    ['@as1.irsp.test', 'user', 'ID must be local part @ domain'],
    ['', 'user', 'ID must be local part @ domain'],
    ['alice@', 'user', 'invalid domain name'],
    ['alice@-as1.test', 'user', 'invalid domain name'],
    ['alice@as1-.test', 'user', 'invalid domain name'],
    ['alice@as1..test', 'user', 'invalid domain name'],
    ['alice@as1.test.', 'user', 'invalid domain name'],
    ['alice@as_1.test', 'user', 'invalid domain name'],
    ['alice@as 1.test', 'user', 'invalid domain name'],
    [`alice@${'a'.repeat(64)}.test`, 'user', 'invalid domain name'],
    [`alice@${Array.from({ length: 64 }, () => 'abc').join('.')}`, 'user', 'invalid domain name'],
    ['a@b@as1.test', 'user', 'forbidden character in local part'],
    ['#alice@as1.test', 'user', 'user local part must not start with #'],
    ['lock@as1.test', 'device', 'device local part must start with #'],
    ['#@as1.test', 'device', 'device local part has nothing after #'],
    [`${'a'.repeat(1024)}@as1.test`, 'user', 'local part longer than 1023 octets'],
  ] as const)('%j as %s: %s', (raw, kind, reason) => {
    expect(parseAccountId(raw, kind)).toEqual(failure(reason));
  });

  it('accepts domains of 63-character labels and up to 253 characters', () => {
    expect(isDomainName(`${'a'.repeat(63)}.test`)).toBe(true);
    const d253 = [61, 63, 63, 63].map((n) => 'a'.repeat(n)).join('.');
    expect(d253).toHaveLength(253);
    expect(isDomainName(d253)).toBe(true);
    expect(isDomainName(`a${d253}`)).toBe(false);
    expect(isDomainName('localhost')).toBe(true);
    expect(isDomainName('As1.test')).toBe(false);
  });

  it('parse(format(id)) is the identity for valid IDs', () => {
    fc.assert(
      fc.property(localPart('device'), domain, (local, d) => {
        expect(formatAccountId({ local, domain: d })).toBe(`${local}@${d}`);
        expect(parseAccountId(`${local}@${d}`, 'device')).toEqual({
          ok: true,
          id: { kind: 'device', local, domain: d },
        });
      }),
    );
    fc.assert(
      fc.property(localPart('user'), domain, (local, d) => {
        expect(parseAccountId(`${local}@${d}`, 'user')).toEqual({
          ok: true,
          id: { kind: 'user', local, domain: d },
        });
      }),
    );
  });
});

describe('localPartProblem and localPartSchema', () => {
  it('limits a local part to 1023 UTF-8 octets', () => {
    expect(MAX_LOCAL_PART_OCTETS).toBe(1023);
    expect(localPartProblem('a'.repeat(1023), 'user')).toBeUndefined();
    expect(localPartProblem('€'.repeat(341), 'user')).toBeUndefined(); // 1023 octets
    expect(localPartProblem(`a${'€'.repeat(341)}`, 'user')).toBe('local part longer than 1023 octets');
    expect(localPartProblem('😀'.repeat(256), 'user')).toBe('local part longer than 1023 octets');
  });

  it.each([
    '"',
    '&',
    "'",
    '/',
    ':',
    '<',
    '>',
    '@',
    ' ',
    '\u3000',
    '\r',
    '\u0085',
    '\u200e',
    '\ufeff',
    '\u2029',
  ])('forbids %j', (char) => {
    expect(localPartProblem(`a${char}`, 'user')).toBe('forbidden character in local part');
    expect(localPartProblem(`#a${char}`, 'device')).toBe('forbidden character in local part');
  });

  it('allows # % + = ? and non-ASCII letters', () => {
    expect(localPartProblem('a#%+=?.é😀', 'user')).toBeUndefined();
    expect(localPartProblem('#a#%+=?', 'device')).toBeUndefined();
  });

  it('the schema canonicalises and refuses with the problem as message', () => {
    expect(localPartSchema('user').parse('ÅSA')).toBe('åsa');
    expect(localPartSchema('device').parse('#LOCK')).toBe('#lock');
    const result = localPartSchema('device').safeParse('lock');
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((i) => i.message)).toEqual(['device local part must start with #']);
  });

  it('canonicalLocalPart lower-cases and composes', () => {
    expect(canonicalLocalPart('Alice')).toBe('alice');
    expect(canonicalLocalPart('A\u030A')).toBe('å');
    expect(canonicalLocalPart('İ')).toBe('i\u0307');
    expect(canonicalLocalPart('ΣΑΣ')).toBe('σας');
  });
});

describe('parseServerAddress (clause 3.1.11 "domain name of server:port")', () => {
  it.each([
    ['www.igrslab.com:8080', { host: 'www.igrslab.com', port: 8080 }],
    ['WWW.IGRSLAB.COM:8080', { host: 'www.igrslab.com', port: 8080 }],
    ['[::1]:5222', { host: '::1', port: 5222 }],
    ['[2001:DB8::1]:443', { host: '2001:db8::1', port: 443 }],
    ['127.0.0.1:1', { host: '127.0.0.1', port: 1 }],
    ['localhost:65535', { host: 'localhost', port: 65535 }],
  ])('%s', (raw, expected) => {
    expect(parseServerAddress(raw)).toEqual(expected);
  });

  it.each([
    'www.igrslab.com',
    'www.igrslab.com:',
    'www.igrslab.com:0',
    'www.igrslab.com:65536',
    'www.igrslab.com:99999',
    'www.igrslab.com:123456',
    'www.igrslab.com:-1',
    'www.igrslab.com:80a',
    ':8080',
    '::1:5222',
    '[::1]',
    '[::1]5222',
    '[zz::1]:5222',
    'bad_host:80',
    '-bad.com:80',
    'https://www.igrslab.com:8080',
    'www.igrslab.com:8080/path',
    '',
  ])('refuses %j', (raw) => {
    expect(parseServerAddress(raw)).toBeUndefined();
  });

  it('formatServerAddress brackets IPv6 and round-trips', () => {
    expect(formatServerAddress({ host: 'www.igrslab.com', port: 8080 })).toBe('www.igrslab.com:8080');
    expect(formatServerAddress({ host: '::1', port: 5222 })).toBe('[::1]:5222');
    fc.assert(
      fc.property(
        fc.oneof(domain, fc.ipV4(), fc.ipV6()),
        fc.integer({ min: 1, max: 65535 }),
        (host, port) => {
          expect(parseServerAddress(formatServerAddress({ host, port }))).toEqual({ host, port });
        },
      ),
    );
  });
});
