/** Table 2: the push data format between RAS and RAC. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MessageError, PUSH_EVENTS, STATUS, buildPush, parsePush } from '../src/index.js';
import { push } from './arbitraries.js';

const failure = (status: keyof typeof STATUS, detail: string) => ({
  ok: false,
  error: { status: STATUS[status].code, detail },
});

describe('Table 2 push data', () => {
  it('build → parse is the identity for every event', () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(push, (data) => {
        seen.add(data.event);
        expect(parsePush(buildPush(data))).toEqual({ ok: true, value: { version: 1, ...data } });
      }),
      { numRuns: 500 },
    );
    expect([...seen].sort()).toEqual([...PUSH_EVENTS].sort());
  });

  it('builds a commandResult exactly', () => {
    expect(
      buildPush({
        event: 'commandResult',
        lockId: '00a1b2c3d4e5f607',
        requestId: 'ctl-0042',
        action: 'unlock',
        status: 1000,
        state: 'unlocked',
        at: '2026-12-07T18:00:02Z',
      }),
    ).toBe(
      '{"version":1,"event":"commandResult","lockId":"00a1b2c3d4e5f607","requestId":"ctl-0042",' +
        '"action":"unlock","status":1000,"state":"unlocked","at":"2026-12-07T18:00:02Z"}',
    );
  });

  it('refuses an unknown event, a field of another event, a wrong version and an unknown status', () => {
    const at = '2026-12-07T18:00:00Z';
    const text = (value: Record<string, unknown>) => JSON.stringify({ version: 1, at, ...value });
    expect(parsePush(text({ event: 'doorOpen' }))).toMatchObject({ ok: false, error: { status: 2000 } });
    expect(
      parsePush(text({ event: 'gatewayOnline', gatewayId: '#bgw', lockId: '00a1b2c3d4e5f607' })),
    ).toEqual(failure('malformed', 'Unrecognized key: "lockId"'));
    expect(parsePush(text({ event: 'gatewayOnline', gatewayId: '#bgw', version: 3 }))).toEqual(
      failure('unsupportedVersion', 'version must be 1'),
    );
    expect(
      parsePush(
        text({
          event: 'commandResult',
          lockId: '00a1b2c3d4e5f607',
          requestId: 'r',
          action: 'lock',
          status: 7,
        }),
      ),
    ).toEqual(failure('malformed', 'status: unknown status code'));
    expect(parsePush('x'.repeat(65_537))).toEqual(failure('tooLarge', 'longer than 65536 characters'));
    expect(() => buildPush({ event: 'gatewayOffline', gatewayId: 'bgw', at })).toThrow(MessageError);
  });
});
