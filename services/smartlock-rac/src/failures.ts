/**
 * Every failure a person can meet in the RAC, in words: Table 1 codes of the RAS (docs/smartlock.md, 7.6), the
 * account server's client API codes (docs/protocol.md §5), and what XMPP answers at login and when binding a
 * gateway. The one place where a code becomes a sentence.
 */
import { STATUS, type StatusName } from '@irsp/smartlock/rac';

/** Why an XMPP login failed. */
export type LoginFailure = 'not-authorized' | 'unreachable' | 'protocol';

const RAS_WORDS: Partial<Record<StatusName, string>> = {
  unauthorized: 'Please confirm your PIN again: your confirmation has run out.',
  authenticationFailed: 'Wrong PIN.',
  userAlreadyRegistered: 'You have already joined the smart-lock service: log in instead.',
  userNotRegistered: 'You have not joined the smart-lock service yet, or that user has not: sign up first.',
  forbidden: 'You have no access to this lock.',
  accessExpired: 'Your access to this lock has expired (or has not started yet).',
  rateLimited: 'Too many wrong attempts: please wait a while and try again.',
  thirdPartyNotLinked: 'That partner service is unknown, or not linked to this lock.',
  lockNotFound: 'This lock is not known: check the lock ID.',
  lockAlreadyRegistered: 'This lock already belongs to someone.',
  lockAuthenticationFailed: 'Wrong activation code for this lock.',
  lockRefusedUser: 'The lock refused you: it does not hold your user ID.',
  lockJammed: 'The lock is jammed: the bolt did not move.',
  gatewayOffline: 'The gateway is offline: check that it is powered and connected.',
  lockUnreachable: 'The gateway cannot reach the lock: is it in range?',
  commandExpired: 'The command arrived too late and the lock ignored it. Try again.',
  commandReplayed: 'The lock refused a repeated command. Try again.',
  integrityCheckFailed: 'The answer from the lock could not be trusted. Check the lock before relying on it.',
  commandTimeout: 'The lock did not answer in time.',
  internalError: 'The smart-lock service failed. Please try again later.',
  serviceUnavailable: 'The smart-lock service is unavailable. Please try again later.',
  thirdPartyFailure: 'A partner service failed. Please try again later.',
};

const BY_CODE = new Map<number, string>(
  (Object.keys(STATUS) as StatusName[]).map((name) => [
    STATUS[name].code,
    RAS_WORDS[name] ?? `The smart-lock service refused the request (${STATUS[name].message}).`,
  ]),
);

/** A RAS status (Table 1) in words. */
export function rasFailure(code: number): string {
  return BY_CODE.get(code) ?? `The smart-lock service answered an unknown code (${code}).`;
}

/** The account server's answer to a sign-up, in words. */
export function signUpFailure(status: number): string {
  switch (status) {
    case 400:
      return 'That user ID or password is not accepted.';
    case 421:
      return 'This user ID is already taken.';
    case 429:
      return 'Too many attempts: please wait a while and try again.';
    default:
      return 'The account server could not register you now. Please try again later.';
  }
}

export function loginFailure(reason: LoginFailure): string {
  switch (reason) {
    case 'not-authorized':
      return 'Wrong user ID or password.';
    case 'unreachable':
      return 'The message server cannot be reached. Check your connection and try again.';
    case 'protocol':
      return 'The message server answered something unexpected. Please try again later.';
  }
}

/** A presence error to a binding request (docs/client-protocol.md, "Relationships"), in words. */
export function bindFailure(condition: string | undefined, retryAfterSeconds?: string | null): string {
  switch (condition) {
    case 'not-authorized':
      return 'Wrong verification code for this gateway.';
    case 'policy-violation':
      return `Too many wrong verification codes: try again in ${retryAfterSeconds ?? 'a few'} s.`;
    case 'item-not-found':
      return 'There is no gateway with this device ID.';
    default:
      return 'The gateway could not be bound.';
  }
}

export const NO_ANSWER = 'The smart-lock service did not answer. Please try again.';
export const NETWORK_DOWN = 'The connection to the service was lost. Please log in again.';
