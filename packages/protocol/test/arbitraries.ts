/** fast-check arbitraries of valid parameter values of Messages 1–15 and the client account API. */
import fc from 'fast-check';
import { canonicalLocalPart, localPartProblem, type IdKind } from '../src/ids.js';

const CONTROL = /\p{Cc}/u;
export const noControl = (s: string): boolean => !CONTROL.test(s);

/** Characters that break a naive query string or decoder, and Unicode that breaks a naive encoder. */
const TRICKY = fc.constantFrom(
  '#',
  '&',
  '=',
  '+',
  '%',
  ' ',
  '%25',
  '%2B',
  '%zz',
  '?',
  '/',
  ';',
  "'",
  '"',
  'é',
  'e\u0301',
  '€',
  '😀',
  '\u00a0',
  '\u200d',
  '\u2028',
  '\ufeff',
);
const GRAPHEME = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 1 });
const CODE_POINT = fc.string({ unit: 'binary', minLength: 1, maxLength: 1 });
const UNIT = fc.oneof(TRICKY, GRAPHEME, CODE_POINT);

/** A password, token, verification code or extra value: no control characters, at most max UTF-16 units. */
export function text(minLength: number, max: number): fc.Arbitrary<string> {
  return fc
    .string({ unit: UNIT, minLength, maxLength: Math.min(max, 40) })
    .filter((s) => s.length >= minLength && s.length <= max && noControl(s));
}

/** `data` of Messages 8, 9, 12–15: anything non-empty, control characters included. */
export const data = fc.string({ unit: fc.oneof(TRICKY, GRAPHEME, CODE_POINT), minLength: 1, maxLength: 60 });

export const appid = fc.stringMatching(/^[A-Za-z0-9._~-]{1,128}$/);

/** Characters allowed in a local part plus ones whose case mapping or normalisation is delicate. */
const LOCAL_TRICKY = fc.constantFrom(
  '#',
  '%',
  '+',
  '=',
  '?',
  '.',
  '-',
  '_',
  'A',
  'T',
  'z',
  '0',
  'é',
  'É',
  'Å',
  'ß',
  'İ',
  'Σ',
  'ς',
  'Ω',
  '\u0301',
  '\u0308',
  '\u0345',
  '😀',
);
const LOCAL_UNIT = fc.oneof(LOCAL_TRICKY, GRAPHEME, CODE_POINT);

/** A raw (not canonicalised) local part candidate. */
export const rawLocalPart = fc.string({ unit: LOCAL_UNIT, minLength: 1, maxLength: 24 });

/**
 * A valid local part in canonical form (what a sender has after canonicalising). Built from raw strings with
 * upper case and decomposed characters, so that the round trip also checks the canonical form is stable.
 */
export function localPart(kind: IdKind): fc.Arbitrary<string> {
  return rawLocalPart
    .map((raw) => canonicalLocalPart(kind === 'device' ? `#${raw}` : raw))
    .filter((local) => localPartProblem(local, kind) === undefined);
}

const LABEL = fc.stringMatching(/^[a-z0-9](?:[a-z0-9-]{0,10}[a-z0-9])?$/);
export const domain = fc.array(LABEL, { minLength: 1, maxLength: 4 }).map((labels) => labels.join('.'));

/** Names of additional registration parameters, including ones that are Object.prototype properties. */
const EXTRA_NAME = fc.oneof(
  fc.stringMatching(/^[A-Za-z][A-Za-z0-9_.-]{0,63}$/),
  fc.constantFrom('constructor', 'toString', 'valueOf', 'hasOwnProperty', 'isPrototypeOf', 'color'),
);

/** Additional parameters of Messages 2 and 4 (never one of the message's own parameter names). */
export function extras(reserved: readonly string[]): fc.Arbitrary<Record<string, string>> {
  return fc
    .uniqueArray(fc.tuple(EXTRA_NAME, text(0, 1024)), {
      maxLength: 32,
      selector: ([name]) => name,
    })
    .map((pairs) => Object.fromEntries(pairs.filter(([name]) => !reserved.includes(name))));
}
