/**
 * Table 1 (clause 7.6): response status codes and their message contents. The standard's table is not available;
 * this is our design (docs/smartlock.md, "7.6"). One registry serves the RAC↔RAS responses, the push data and the
 * result fields of the BGW↔BSLD frames, so a lock's refusal reaches the user's app under the same code.
 *
 * Codes have four digits so that nobody mistakes them for the HTTP status of the Message 8/12 that carries them;
 * the thousands digit is the class.
 */
import { z } from 'zod';

export const STATUS = {
  // 1xxx success
  ok: { code: 1000, message: 'Success' },
  accepted: { code: 1001, message: 'Accepted; the result follows as a push message' },
  // 2xxx the message itself
  malformed: { code: 2000, message: 'Bad request: malformed message' },
  unsupportedVersion: { code: 2001, message: 'Bad request: unsupported version' },
  unknownOperation: { code: 2002, message: 'Bad request: unknown operation' },
  tooLarge: { code: 2003, message: 'Bad request: message too large' },
  // 3xxx the user and their rights
  unauthorized: { code: 3000, message: 'Unauthorized: user not authenticated' },
  authenticationFailed: { code: 3001, message: 'Unauthorized: authentication failed' },
  userAlreadyRegistered: { code: 3002, message: 'User already registered' },
  userNotRegistered: { code: 3003, message: 'User not registered' },
  forbidden: { code: 3004, message: 'Forbidden: no access right to this lock' },
  accessExpired: { code: 3005, message: 'Forbidden: access expired or not yet valid' },
  rateLimited: { code: 3006, message: 'Too many requests: try again later' },
  thirdPartyNotLinked: {
    code: 3007,
    message: 'Third-party service platform unknown or not linked to this lock',
  },
  // 4xxx the lock (BSLD) and its registration
  lockNotFound: { code: 4000, message: 'Lock not found' },
  lockAlreadyRegistered: { code: 4001, message: 'Lock already registered' },
  lockAuthenticationFailed: { code: 4002, message: 'Lock authentication failed' },
  lockRefusedUser: { code: 4003, message: 'Lock refused the user account ID' },
  lockJammed: { code: 4004, message: 'Lock jammed: the bolt did not move' },
  // 5xxx the command on its way through the gateway (BGW)
  gatewayOffline: { code: 5000, message: 'Gateway offline' },
  lockUnreachable: { code: 5001, message: 'Lock unreachable from the gateway' },
  commandExpired: { code: 5002, message: 'Command expired' },
  commandReplayed: { code: 5003, message: 'Command replayed' },
  integrityCheckFailed: { code: 5004, message: 'Integrity check failed' },
  commandTimeout: { code: 5005, message: 'No answer from the lock in time' },
  // 9xxx the server
  internalError: { code: 9000, message: 'Internal server error' },
  serviceUnavailable: { code: 9001, message: 'Service unavailable' },
  thirdPartyFailure: { code: 9002, message: 'Third-party service platform failed' },
} as const satisfies Record<string, { code: number; message: string }>;

export type StatusName = keyof typeof STATUS;
export type StatusCode = (typeof STATUS)[StatusName]['code'];
export interface StatusEntry {
  name: StatusName;
  code: StatusCode;
  message: string;
}

export const STATUS_CLASSES = {
  1: 'success',
  2: 'message',
  3: 'user',
  4: 'lock',
  5: 'command',
  9: 'server',
} as const;
export type StatusClass = (typeof STATUS_CLASSES)[keyof typeof STATUS_CLASSES];

const ENTRIES: readonly StatusEntry[] = (Object.keys(STATUS) as StatusName[]).map((name) => ({
  name,
  code: STATUS[name].code,
  message: STATUS[name].message,
}));
const BY_CODE = new Map<number, StatusEntry>(ENTRIES.map((entry) => [entry.code, entry]));
const BY_NAME = new Map<string, StatusEntry>(ENTRIES.map((entry) => [entry.name, entry]));

export function statusEntries(): readonly StatusEntry[] {
  return ENTRIES;
}

export function statusByCode(code: number): StatusEntry | undefined {
  return BY_CODE.get(code);
}

export function statusByName(name: string): StatusEntry | undefined {
  return BY_NAME.get(name);
}

export function isStatusCode(code: number): code is StatusCode {
  return BY_CODE.has(code);
}

export function statusClass(code: StatusCode): StatusClass {
  return STATUS_CLASSES[Math.floor(code / 1000) as keyof typeof STATUS_CLASSES];
}

export function isSuccess(code: StatusCode): boolean {
  return statusClass(code) === 'success';
}

/** A Table 1 code; any other number is refused. */
export const statusCodeSchema = z
  .number()
  .int()
  .refine((code) => BY_CODE.has(code), 'unknown status code')
  .transform((code) => code as StatusCode);
