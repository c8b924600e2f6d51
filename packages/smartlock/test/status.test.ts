/** Table 1: the one registry of response status codes. */
import { describe, expect, it } from 'vitest';
import {
  STATUS,
  isStatusCode,
  isSuccess,
  statusByCode,
  statusByName,
  statusClass,
  statusCodeSchema,
  statusEntries,
} from '../src/index.js';

describe('Table 1', () => {
  it('looks each entry up by code and by name', () => {
    for (const entry of statusEntries()) {
      expect(statusByCode(entry.code)).toEqual(entry);
      expect(statusByName(entry.name)).toEqual(entry);
    }
  });

  it.each([
    [1000, 'ok', 'Success', 'success'],
    [1001, 'accepted', 'Accepted; the result follows as a push message', 'success'],
    [2000, 'malformed', 'Bad request: malformed message', 'message'],
    [2003, 'tooLarge', 'Bad request: message too large', 'message'],
    [3004, 'forbidden', 'Forbidden: no access right to this lock', 'user'],
    [4000, 'lockNotFound', 'Lock not found', 'lock'],
    [4001, 'lockAlreadyRegistered', 'Lock already registered', 'lock'],
    [5000, 'gatewayOffline', 'Gateway offline', 'command'],
    [5002, 'commandExpired', 'Command expired', 'command'],
    [5003, 'commandReplayed', 'Command replayed', 'command'],
    [5004, 'integrityCheckFailed', 'Integrity check failed', 'command'],
    [9000, 'internalError', 'Internal server error', 'server'],
  ] as const)('%i is %s: %s', (code, name, message, klass) => {
    expect(statusByCode(code)).toEqual({ code, name, message });
    expect(statusByName(name)).toEqual({ code, name, message });
    expect(statusClass(code)).toBe(klass);
  });

  it('has unique codes and unique message texts', () => {
    const entries = statusEntries();
    expect(new Set(entries.map((e) => e.code)).size).toBe(entries.length);
    expect(new Set(entries.map((e) => e.message)).size).toBe(entries.length);
    expect(entries).toHaveLength(Object.keys(STATUS).length);
  });

  it('knows nothing of unknown codes and names', () => {
    for (const code of [0, 200, 999, 1002, 2999, 6000, 65535, -1000, 1000.5, Number.NaN]) {
      expect(statusByCode(code)).toBeUndefined();
      expect(isStatusCode(code)).toBe(false);
    }
    expect(statusByName('notAStatus')).toBeUndefined();
    expect(statusByName('toString')).toBeUndefined();
  });

  it('refuses unknown codes in the schema', () => {
    expect(statusCodeSchema.safeParse(4003).success).toBe(true);
    expect(statusCodeSchema.safeParse(4999).success).toBe(false);
    expect(statusCodeSchema.safeParse('1000').success).toBe(false);
  });

  it('calls only the 1xxx class success', () => {
    expect(
      statusEntries()
        .filter((e) => isSuccess(e.code))
        .map((e) => e.name),
    ).toEqual(['ok', 'accepted']);
  });
});
