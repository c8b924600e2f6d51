/** Clause 7.7: the generic RAC↔RAS message format and the operation bodies (Figures 7–12, A.1, A.2). */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  MAX_MESSAGE_LENGTH,
  MessageError,
  OPERATION_NAMES,
  STATUS,
  buildRequest,
  buildResponse,
  isSuccess,
  parseRequest,
  parseResponse,
  statusEntries,
  unixSeconds,
  type Operation,
} from '../src/index.js';
import { requestBodies, requestId, responseBodies, statusCode, timestamp } from './arbitraries.js';

const T = '2026-12-07T18:00:00Z';
const LOCK = '00a1b2c3d4e5f607';
const failure = (status: keyof typeof STATUS, detail: string) => ({
  ok: false,
  error: { status: STATUS[status].code, detail },
});
const remove = (extra: Record<string, unknown> = {}, body: Record<string, unknown> = { lockId: LOCK }) =>
  JSON.stringify({ version: 1, id: 'r-1', operation: 'lockRemove', timestamp: T, body, ...extra });

describe('build → parse is the identity', () => {
  it.each(OPERATION_NAMES)('for every %s request', (operation) => {
    fc.assert(
      fc.property(requestId, timestamp, requestBodies[operation], (id, ts, body) => {
        const request = { id, operation, timestamp: ts, body } as Parameters<typeof buildRequest>[0];
        expect(parseRequest(buildRequest(request))).toEqual({ ok: true, value: { version: 1, ...request } });
      }),
      { numRuns: 200 },
    );
  });

  it.each(OPERATION_NAMES)('for every %s response, success and error', (operation: Operation) => {
    fc.assert(
      fc.property(
        fc.option(requestId, { nil: null }),
        statusCode,
        responseBodies[operation],
        (id, status, body) => {
          const entry = statusEntries().find((e) => e.code === status)!;
          const success = isSuccess(status);
          const answer = success ? { id: id ?? 'x', status: entry.name, body } : { id, status: entry.name };
          const text = buildResponse(operation, answer as Parameters<typeof buildResponse>[1]);
          expect(parseResponse(text, operation)).toEqual({
            ok: true,
            value: {
              version: 1,
              id: answer.id,
              status,
              message: entry.message,
              ...(success ? { body } : {}),
            },
          });
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('Annex A: a user registration request (A.1) and its response (A.2)', () => {
  it('builds exactly these texts', () => {
    expect(
      buildRequest({
        id: 'reg-0001',
        operation: 'userRegister',
        timestamp: '2026-12-07T18:00:00Z',
        body: { displayName: 'Alice Martin', pin: '482915' },
      }),
    ).toBe(
      '{"version":1,"id":"reg-0001","operation":"userRegister","timestamp":"2026-12-07T18:00:00Z",' +
        '"body":{"displayName":"Alice Martin","pin":"482915"}}',
    );
    expect(
      buildResponse('userRegister', {
        id: 'reg-0001',
        status: 'ok',
        body: { userId: 'alice@as1.irsp.test', registeredAt: '2026-12-07T18:00:01Z' },
      }),
    ).toBe(
      '{"version":1,"id":"reg-0001","status":1000,"message":"Success",' +
        '"body":{"userId":"alice@as1.irsp.test","registeredAt":"2026-12-07T18:00:01Z"}}',
    );
    expect(buildResponse('userRegister', { id: 'reg-0001', status: 'userAlreadyRegistered' })).toBe(
      '{"version":1,"id":"reg-0001","status":3002,"message":"User already registered"}',
    );
  });
});

describe('parseRequest refuses', () => {
  it('a message over 65 536 characters, and takes one of exactly 65 536', () => {
    const text = remove();
    const padded = text.slice(0, -1) + ' '.repeat(MAX_MESSAGE_LENGTH - text.length) + '}';
    expect(padded).toHaveLength(MAX_MESSAGE_LENGTH);
    expect(parseRequest(padded).ok).toBe(true);
    expect(parseRequest(padded + ' ')).toEqual(failure('tooLarge', 'longer than 65536 characters'));
  });

  it('an unknown field, in the envelope or in the body', () => {
    expect(parseRequest(remove({ user: 'alice' }))).toEqual(failure('malformed', 'Unrecognized key: "user"'));
    expect(parseRequest(remove({}, { lockId: LOCK, userId: 'bob' }))).toEqual(
      failure('malformed', 'body: Unrecognized key: "userId"'),
    );
  });

  it('a wrong or missing version', () => {
    expect(parseRequest(remove({ version: 2 }))).toEqual(failure('unsupportedVersion', 'version must be 1'));
    expect(parseRequest(remove({ version: '1' }))).toEqual(
      failure('unsupportedVersion', 'version must be 1'),
    );
    expect(parseRequest(remove({ version: undefined }))).toEqual(failure('malformed', 'version: missing'));
  });

  it('an unknown operation, and text that is no JSON object', () => {
    expect(parseRequest(remove({ operation: 'lockOpen' }))).toEqual(
      failure('unknownOperation', 'operation: unknown'),
    );
    expect(parseRequest(remove({ operation: 'toString' }))).toEqual(
      failure('unknownOperation', 'operation: unknown'),
    );
    expect(parseRequest('{')).toEqual(failure('malformed', 'not JSON'));
    expect(parseRequest('[1]')).toEqual(failure('malformed', 'not an object'));
    expect(parseRequest('null')).toEqual(failure('malformed', 'not an object'));
  });

  it.each([
    ['id', { id: '' }, 'id: id must be 1–64 of A-Z a-z 0-9 _ -'],
    ['id', { id: 'a'.repeat(65) }, 'id: id must be 1–64 of A-Z a-z 0-9 _ -'],
    ['id', { id: 'a b' }, 'id: id must be 1–64 of A-Z a-z 0-9 _ -'],
    [
      'timestamp with offset',
      { timestamp: '2026-12-07T19:00:00+01:00' },
      'timestamp: timestamp must be YYYY-MM-DDTHH:MM:SS[.sss]Z between 1970 and 2106',
    ],
    [
      'non-existent date',
      { timestamp: '2026-02-30T00:00:00Z' },
      'timestamp: timestamp must be YYYY-MM-DDTHH:MM:SS[.sss]Z between 1970 and 2106',
    ],
    [
      'date after 2106',
      { timestamp: '2106-02-07T06:28:16Z' },
      'timestamp: timestamp must be YYYY-MM-DDTHH:MM:SS[.sss]Z between 1970 and 2106',
    ],
  ])('a bad %s', (_what, extra, detail) => {
    expect(parseRequest(remove(extra))).toEqual(failure('malformed', detail));
  });

  it('user IDs that are not canonical, device IDs as grantees, and bad domains', () => {
    const revoke = (grantee: string) =>
      parseRequest(
        JSON.stringify({
          version: 1,
          id: 'r',
          operation: 'revokeAccess',
          timestamp: T,
          body: { lockId: LOCK, grantee },
        }),
      );
    expect(revoke('bob').ok).toBe(true);
    expect(revoke('bob@as2.irsp.test').ok).toBe(true);
    expect(revoke('Bob')).toEqual(
      failure('malformed', 'body.grantee: local part not canonical (lower case NFC)'),
    );
    expect(revoke('#lock')).toEqual(
      failure('malformed', 'body.grantee: a user ID must not start with # (that is a device ID)'),
    );
    expect(revoke('bob@-as2')).toEqual(failure('malformed', 'body.grantee: invalid domain name'));
    expect(revoke('b'.repeat(65))).toEqual(
      failure('malformed', 'body.grantee: local part must be 1–64 characters'),
    );
    expect(revoke('bo b')).toEqual(failure('malformed', 'body.grantee: forbidden character in local part'));
  });

  it('a grant whose window is empty', () => {
    const grant = JSON.stringify({
      version: 1,
      id: 'g',
      operation: 'grantAccess',
      timestamp: T,
      body: { lockId: LOCK, grantee: 'bob', from: T, until: T },
    });
    expect(parseRequest(grant)).toEqual(failure('malformed', 'body: from must be before until'));
  });
});

describe('parseResponse refuses', () => {
  const ok = {
    version: 1,
    id: 'r-1',
    status: 1000,
    message: 'Success',
    body: { lockId: LOCK, removedAt: T },
  };
  const answer = (extra: Record<string, unknown>) =>
    parseResponse(JSON.stringify({ ...ok, ...extra }), 'lockRemove');

  it('an unknown status code', () => {
    expect(answer({ status: 1234 })).toEqual(failure('malformed', 'status: unknown status code'));
  });
  it('a message that is not the Table 1 text of the status', () => {
    expect(answer({ message: 'OK' })).toEqual(
      failure('malformed', 'message: not the Table 1 text of the status'),
    );
  });
  it('a success without body and an error with one', () => {
    expect(answer({ body: undefined })).toEqual(
      failure('malformed', 'body: a body comes with a success status only'),
    );
    expect(answer({ status: 4000, message: 'Lock not found' })).toEqual(
      failure('malformed', 'body: a body comes with a success status only'),
    );
  });
  it('a null id except in an error', () => {
    expect(answer({ id: null })).toEqual(failure('malformed', 'id: a success answers a known id'));
    expect(
      answer({ id: null, status: 2000, message: 'Bad request: malformed message', body: undefined }),
    ).toEqual({
      ok: true,
      value: { version: 1, id: null, status: 2000, message: 'Bad request: malformed message' },
    });
  });
  it('a wrong version and an unknown field', () => {
    expect(answer({ version: 0 })).toEqual(failure('unsupportedVersion', 'version must be 1'));
    expect(answer({ operation: 'lockRemove' })).toEqual(
      failure('malformed', 'Unrecognized key: "operation"'),
    );
  });
});

describe('builders', () => {
  it('throw MessageError rather than produce what the parser refuses', () => {
    const build = () =>
      buildRequest({ id: 'x', operation: 'lockRemove', timestamp: T, body: { lockId: 'LOCK' } });
    expect(build).toThrow(MessageError);
    expect(build).toThrow('body.lockId: lock ID must be 16 lower-case hex digits');
    expect(() =>
      buildResponse('auditLog', {
        id: 'x',
        status: 'ok',
        body: {
          lockId: LOCK,
          entries: Array(101).fill({ at: T, userId: 'bob', action: 'lock', status: 1000 }),
        },
      }),
    ).toThrow(MessageError);
  });

  it('a deadline becomes whole Unix seconds, rounded down so it never moves later', () => {
    expect(unixSeconds('2026-12-07T18:00:00.999Z')).toBe(1796666400);
    expect(unixSeconds('2106-02-07T06:28:15Z')).toBe(0xffffffff);
  });
});
