import { describe, expect, it } from 'vitest';
import { VERIFY_CODE_BITS, verifyCodeBits, weakVerifyCode } from '../src/params.js';

describe('verification code strength (decision 0010)', () => {
  it('estimates length × log2 of the alphabet its character classes span', () => {
    expect(VERIFY_CODE_BITS).toEqual({ weak: 20, recommended: 40 });
    expect(verifyCodeBits('')).toBe(0);
    expect(verifyCodeBits('4821')).toBeCloseTo(13.29, 2);
    expect(verifyCodeBits('482193')).toBeCloseTo(19.93, 2);
    expect(verifyCodeBits('4821937')).toBeCloseTo(23.25, 2);
    expect(verifyCodeBits('k7q2m9x4')).toBeCloseTo(41.36, 2);
    expect(verifyCodeBits('K7q2-m9X')).toBeCloseTo(8 * Math.log2(95), 5);
    expect(verifyCodeBits('٤٨٢١')).toBeCloseTo(13.29, 2); // digits of any script are digits
  });

  it('a set code under 20 bits is weak; none (empty) is not', () => {
    expect(weakVerifyCode('4821')).toBe(true);
    expect(weakVerifyCode('482193')).toBe(true);
    expect(weakVerifyCode('4821937')).toBe(false);
    expect(weakVerifyCode('')).toBe(false);
    expect(weakVerifyCode(undefined)).toBe(false);
  });
});
