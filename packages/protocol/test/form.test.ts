/** The strict application/x-www-form-urlencoded encoder and decoder under every message. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeForm, encodeForm, encodeFormComponent } from '../src/form.js';

const fields = (entries: [string, string][]) => ({ ok: true, fields: new Map(entries) });
const malformed = { ok: false, reason: 'malformed percent-encoding' };

describe('encodeForm', () => {
  it('percent-encodes # & = + space and %', () => {
    expect(encodeForm([['name', '#a&b=c+d e%f']])).toBe('name=%23a%26b%3Dc%2Bd%20e%25f');
  });

  it('percent-encodes Unicode as UTF-8', () => {
    expect(encodeForm([['p', 'é€😀']])).toBe('p=%C3%A9%E2%82%AC%F0%9F%98%80');
    expect(encodeForm([['p', 'e\u0301']])).toBe('p=e%CC%81');
  });

  it('encodes names too, keeps the given order and leaves unreserved characters alone', () => {
    expect(
      encodeForm([
        ['z', '1'],
        ['a b', 'A-Z_a.z~0'],
        ['e', ''],
      ]),
    ).toBe('z=1&a%20b=A-Z_a.z~0&e=');
    expect(encodeForm([])).toBe('');
    expect(encodeFormComponent('/?:@')).toBe('%2F%3F%3A%40');
  });
});

describe('decodeForm', () => {
  it('decodes + as a space and %2B as +', () => {
    expect(decodeForm('a=x+y&b=x%2By&c+d=1')).toEqual(
      fields([
        ['a', 'x y'],
        ['b', 'x+y'],
        ['c d', '1'],
      ]),
    );
  });

  it('decodes UTF-8 percent-encoding', () => {
    expect(decodeForm('p=%C3%A9%E2%82%AC%F0%9F%98%80&n=%23lock')).toEqual(
      fields([
        ['p', 'é€😀'],
        ['n', '#lock'],
      ]),
    );
  });

  it('takes characters that need no decoding as they are, also beside encoded ones', () => {
    expect(decodeForm('token=Zx_-.~*!()&raw=é#&mix=a+%2B+b')).toEqual(
      fields([
        ['token', 'Zx_-.~*!()'],
        ['raw', 'é#'],
        ['mix', 'a + b'],
      ]),
    );
    expect(decodeForm('a=b+%zz')).toEqual(malformed);
  });

  it('gives an empty map for an empty string, an empty value without =, and skips empty pairs', () => {
    expect(decodeForm('')).toEqual(fields([]));
    expect(decodeForm('a&b=')).toEqual(
      fields([
        ['a', ''],
        ['b', ''],
      ]),
    );
    expect(decodeForm('a=1&&b=2&')).toEqual(
      fields([
        ['a', '1'],
        ['b', '2'],
      ]),
    );
  });

  it('keeps = after the first one in the value', () => {
    expect(decodeForm('a=b=c')).toEqual(fields([['a', 'b=c']]));
  });

  it.each(['%zz', '%E0%A4', '%FF', '%', '%4', '%C3', '%ED%A0%80', '%C0%AF', '%F4%90%80%80'])(
    'refuses malformed percent-encoding or invalid UTF-8 %j in a value and in a name',
    (bad) => {
      expect(decodeForm(`a=${bad}`)).toEqual(malformed);
      expect(decodeForm(`ok=1&${bad}=1`)).toEqual(malformed);
    },
  );

  it('refuses a repeated parameter, also when only its encoding differs', () => {
    expect(decodeForm('a=1&a=2')).toEqual({ ok: false, reason: 'parameter a repeated' });
    expect(decodeForm('a=1&a=1')).toEqual({ ok: false, reason: 'parameter a repeated' });
    expect(decodeForm('a=1&%61=2')).toEqual({ ok: false, reason: 'parameter a repeated' });
    expect(decodeForm('a+b=1&a%20b=2')).toEqual({ ok: false, reason: 'parameter a b repeated' });
    expect(decodeForm('a&a=')).toEqual({ ok: false, reason: 'parameter a repeated' });
  });

  it('refuses more than maxFields (default 64) parameters', () => {
    const form = (n: number) => Array.from({ length: n }, (_, i) => `p${i}=v`).join('&');
    expect(decodeForm(form(64))).toMatchObject({ ok: true });
    expect(decodeForm(form(65))).toEqual({ ok: false, reason: 'too many parameters' });
    expect(decodeForm(form(3), 3)).toMatchObject({ ok: true });
    expect(decodeForm(form(4), 3)).toEqual({ ok: false, reason: 'too many parameters' });
  });

  it('decodeForm(encodeForm(x)) is the identity for distinct names and any well-formed Unicode', () => {
    const str = fc.string({ unit: 'binary', maxLength: 20 });
    fc.assert(
      fc.property(fc.uniqueArray(fc.tuple(str, str), { maxLength: 20, selector: ([n]) => n }), (entries) => {
        expect(decodeForm(encodeForm(entries))).toEqual(fields(entries));
      }),
    );
  });

  it('agrees with URLSearchParams on every well-formed form', () => {
    const str = fc.string({ unit: 'grapheme', maxLength: 10 });
    fc.assert(
      fc.property(fc.uniqueArray(fc.tuple(str, str), { maxLength: 10, selector: ([n]) => n }), (entries) => {
        const raw = new URLSearchParams(entries).toString();
        expect(decodeForm(raw)).toEqual(fields([...new URLSearchParams(raw)]));
      }),
    );
  });
});
