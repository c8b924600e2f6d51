/** The RAC's words for failures (src/failures.ts): every Table 1 refusal a person can meet has its own sentence. */
import { describe, expect, it } from 'vitest';
import { STATUS, isSuccess, statusEntries } from '@irsp/smartlock/rac';
import { bindFailure, loginFailure, rasFailure, signUpFailure } from '../src/failures.js';

/** Refusals of the message itself: a RAC built on the same schemas never sends one, so a generic sentence does. */
const MESSAGE_CLASS = new Set<number>([
  STATUS.malformed.code,
  STATUS.unsupportedVersion.code,
  STATUS.unknownOperation.code,
  STATUS.tooLarge.code,
]);

describe('failures in words', () => {
  it('every Table 1 refusal outside the message class has a sentence of its own, all different', () => {
    const refusals = statusEntries().filter((e) => !isSuccess(e.code) && !MESSAGE_CLASS.has(e.code));
    const sentences = refusals.map((e) => rasFailure(e.code));
    for (const sentence of sentences) expect(sentence).not.toMatch(/refused the request|unknown code/);
    expect(new Set(sentences).size).toBe(sentences.length);
  });

  it('the ones the issue names', () => {
    expect(rasFailure(STATUS.accessExpired.code)).toBe(
      'Your access to this lock has expired (or has not started yet).',
    );
    expect(rasFailure(STATUS.gatewayOffline.code)).toBe(
      'The gateway is offline: check that it is powered and connected.',
    );
    expect(loginFailure('not-authorized')).toBe('Wrong user ID or password.');
  });

  it('a message-class refusal and an unknown code still say something', () => {
    expect(rasFailure(STATUS.malformed.code)).toBe(
      'The smart-lock service refused the request (Bad request: malformed message).',
    );
    expect(rasFailure(1234)).toBe('The smart-lock service answered an unknown code (1234).');
  });

  it('sign-up and binding answers', () => {
    expect([400, 421, 429, 500].map(signUpFailure)).toEqual([
      'That user ID or password is not accepted.',
      'This user ID is already taken.',
      'Too many attempts: please wait a while and try again.',
      'The account server could not register you now. Please try again later.',
    ]);
    expect(bindFailure('not-authorized')).toBe('Wrong verification code for this gateway.');
    expect(bindFailure('policy-violation', '60')).toBe(
      'Too many wrong verification codes: try again in 60 s.',
    );
    expect(bindFailure('item-not-found')).toBe('There is no gateway with this device ID.');
  });
});
