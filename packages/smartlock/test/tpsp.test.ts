/** Clause 6.6: what a TPSP and the RAS say to each other through the IRSP's gateway (our design). */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  MessageError,
  STATUS,
  buildTpspEvent,
  buildTpspRequest,
  parseTpspEvent,
  parseTpspRequest,
} from '../src/index.js';
import { tpspEvent, tpspRequest } from './arbitraries.js';

const failure = (status: keyof typeof STATUS, detail: string) => ({
  ok: false,
  error: { status: STATUS[status].code, detail },
});
const LOCK = '00a1b2c3d4e5f607';
const AT = '2026-12-07T18:00:00Z';

describe('TPSP requests', () => {
  it('build → parse is the identity for both operations', () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(tpspRequest, (request) => {
        seen.add(request.operation);
        expect(parseTpspRequest(buildTpspRequest(request))).toEqual({
          ok: true,
          value: { version: 1, ...request },
        });
      }),
      { numRuns: 300 },
    );
    expect([...seen].sort()).toEqual(['guestGrant', 'guestRevoke']);
  });

  it('builds a guest grant exactly', () => {
    expect(
      buildTpspRequest({
        id: 'stay-1',
        operation: 'guestGrant',
        timestamp: AT,
        body: { lockId: LOCK, guest: 'carol', from: AT, until: '2026-12-14T10:00:00Z' },
      }),
    ).toBe(
      '{"version":1,"id":"stay-1","operation":"guestGrant","timestamp":"2026-12-07T18:00:00Z",' +
        '"body":{"lockId":"00a1b2c3d4e5f607","guest":"carol","from":"2026-12-07T18:00:00Z",' +
        '"until":"2026-12-14T10:00:00Z"}}',
    );
  });

  it('refuses an unknown operation, a window that ends before it starts, a device as guest, extra fields', () => {
    const text = (value: Record<string, unknown>) =>
      JSON.stringify({ version: 1, id: 'r1', timestamp: AT, ...value });
    expect(parseTpspRequest(text({ operation: 'openAll', body: {} }))).toEqual(
      failure('unknownOperation', 'operation: unknown'),
    );
    expect(
      parseTpspRequest(
        text({ operation: 'guestGrant', body: { lockId: LOCK, guest: 'carol', from: AT, until: AT } }),
      ),
    ).toEqual(failure('malformed', 'body: from must be before until'));
    expect(
      parseTpspRequest(text({ operation: 'guestRevoke', body: { lockId: LOCK, guest: '#lock1' } })),
    ).toEqual(failure('malformed', 'body.guest: a user ID must not start with # (that is a device ID)'));
    expect(
      parseTpspRequest(
        text({ operation: 'guestRevoke', body: { lockId: LOCK, guest: 'carol' }, owner: 'x' }),
      ),
    ).toEqual(failure('malformed', 'Unrecognized key: "owner"'));
    expect(parseTpspRequest('{"version":2}')).toEqual(failure('unsupportedVersion', 'version must be 1'));
    expect(() =>
      buildTpspRequest({
        id: 'r',
        operation: 'guestRevoke',
        timestamp: AT,
        body: { lockId: 'LOCK', guest: 'carol' },
      }),
    ).toThrow(MessageError);
  });
});

describe('events for a TPSP', () => {
  it('build → parse is the identity for every event', () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(tpspEvent, (event) => {
        seen.add(event.event);
        expect(parseTpspEvent(buildTpspEvent(event))).toEqual({ ok: true, value: { version: 1, ...event } });
      }),
      { numRuns: 300 },
    );
    expect([...seen].sort()).toEqual([
      'batteryLow',
      'lockLinked',
      'lockOperated',
      'lockUnlinked',
      'requestResult',
    ]);
  });

  it('a request result carries the Table 1 text of its status, and nothing else', () => {
    const result = {
      event: 'requestResult' as const,
      requestId: 'stay-1',
      operation: 'guestGrant' as const,
      status: 3007 as const,
      message: 'Third-party service platform unknown or not linked to this lock',
      at: AT,
    };
    expect(buildTpspEvent(result)).toBe(
      '{"version":1,"event":"requestResult","requestId":"stay-1","operation":"guestGrant","status":3007,' +
        '"message":"Third-party service platform unknown or not linked to this lock","at":"2026-12-07T18:00:00Z"}',
    );
    expect(parseTpspEvent(JSON.stringify({ version: 1, ...result, message: 'Success' }))).toEqual(
      failure('malformed', 'message: not the Table 1 text of the status'),
    );
  });
});
