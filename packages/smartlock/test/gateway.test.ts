/**
 * What the RAS and a BGW say to each other (gateway.ts) and the lock as a program (lock-device.ts): round trips,
 * exact refusals, a fuzz of both parsers, and a lock that answers what it can trust and nothing else.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  LockDevice,
  STATUS,
  buildFromGateway,
  buildToGateway,
  openFrame,
  parseFromGateway,
  parseToGateway,
  sealFrame,
  type FromGateway,
  type ToGateway,
} from '../src/index.js';
import { lockId, mutateText, requestId, userId } from './arbitraries.js';

const KEY = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex');
const LOCK = '00a1b2c3d4e5f607';
const frameText = sealFrame(KEY, {
  type: 'lockOperationRequest',
  lockId: LOCK,
  keyId: 1,
  counter: 1,
  deadline: 2_000_000_000,
  action: 'unlock',
  userId: 'alice@as1.irsp.test',
}).toString('base64');

const toGateway: fc.Arbitrary<Omit<ToGateway, 'version'>> = fc.oneof(
  fc.record({ type: fc.constant('scan' as const), requestId, seconds: fc.integer({ min: 1, max: 60 }) }),
  fc.record({ type: fc.constant('frame' as const), requestId, lockId, frame: fc.constant(frameText) }),
);
const fromGateway: fc.Arbitrary<Omit<FromGateway, 'version'>> = fc.oneof(
  fc.record({ type: fc.constant('hello' as const), owner: fc.option(userId, { nil: null }) }),
  fc.record({
    type: fc.constant('scanResult' as const),
    requestId,
    locks: fc.array(fc.record({ lockId, rssi: fc.integer({ min: -127, max: 20 }) }), { maxLength: 32 }),
  }),
  fc.record({ type: fc.constant('frame' as const), requestId, lockId, frame: fc.constant(frameText) }),
  fc.record({ type: fc.constant('unreachable' as const), requestId, lockId }),
);

describe('RAS ↔ BGW messages', () => {
  it('build → parse is the identity, both ways', () => {
    fc.assert(
      fc.property(toGateway, (m) => {
        expect(parseToGateway(buildToGateway(m as never))).toEqual({ ok: true, value: { version: 1, ...m } });
      }),
    );
    fc.assert(
      fc.property(fromGateway, (m) => {
        expect(parseFromGateway(buildFromGateway(m as never))).toEqual({
          ok: true,
          value: { version: 1, ...m },
        });
      }),
    );
  });

  it('refuses exactly: unknown type, extra field, a frame of impossible length, a wrong version', () => {
    expect(parseFromGateway('{"version":1,"type":"reboot"}')).toMatchObject({
      ok: false,
      error: { status: 2000 },
    });
    expect(parseFromGateway('{"version":1,"type":"hello","owner":null,"admin":true}')).toMatchObject({
      ok: false,
      error: { status: 2000 },
    });
    expect(
      parseToGateway(`{"version":1,"type":"frame","requestId":"p1","lockId":"${LOCK}","frame":"AAAA"}`),
    ).toEqual({ ok: false, error: { status: 2000, detail: 'frame: frame has an impossible length' } });
    expect(parseToGateway('{"version":2,"type":"scan","requestId":"p1","seconds":1}')).toMatchObject({
      ok: false,
      error: { status: 2001 },
    });
  });

  it('no input makes either parser throw', () => {
    const valid = buildFromGateway({ type: 'frame', requestId: 'p1', lockId: LOCK, frame: frameText });
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 300 }), mutateText(valid)), (text) => {
        for (const parse of [parseFromGateway, parseToGateway]) {
          const result = parse(text);
          expect(typeof result.ok).toBe('boolean');
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('the lock as a program', () => {
  const request = (counter: number, extra: object = {}) =>
    sealFrame(KEY, {
      type: 'lockOperationRequest',
      lockId: LOCK,
      keyId: 1,
      counter,
      deadline: 2_000_000_000,
      action: 'unlock',
      userId: 'alice@as1.irsp.test',
      ...extra,
    });

  it('answers a known user with the new bolt state, an unknown one with 4003, and a replay with 5003', () => {
    const lock = new LockDevice(LOCK, KEY, { battery: 80 });
    const unknown = openFrame(KEY, lock.handle(request(1))!);
    expect(unknown).toMatchObject({
      ok: true,
      value: { type: 'lockOperationResponse', status: 4003, bolt: 'locked' },
    });
    const write = sealFrame(KEY, {
      type: 'writeUserAccountIdRequest',
      lockId: LOCK,
      keyId: 1,
      counter: 2,
      deadline: 2_000_000_000,
      mode: 'add',
      userId: 'alice@as1.irsp.test',
    });
    expect(openFrame(KEY, lock.handle(write)!)).toMatchObject({
      ok: true,
      value: { status: STATUS.ok.code },
    });
    expect(lock.users).toEqual(['alice@as1.irsp.test']);
    expect(openFrame(KEY, lock.handle(request(3))!)).toMatchObject({
      ok: true,
      value: { status: 1000, bolt: 'unlocked', battery: 80, counter: 3 },
    });
    expect(openFrame(KEY, lock.handle(request(3))!)).toMatchObject({ ok: true, value: { status: 5003 } });
  });

  it('stays silent on a frame under another key, and a jammed bolt says so', () => {
    const lock = new LockDevice(LOCK, KEY, { bolt: 'jammed' });
    const otherKey = Buffer.alloc(16, 7);
    const forged = sealFrame(otherKey, {
      type: 'writeUserAccountIdRequest',
      lockId: LOCK,
      keyId: 1,
      counter: 1,
      deadline: 2_000_000_000,
      mode: 'add',
      userId: 'mallory@as1.irsp.test',
    });
    expect(lock.handle(forged)).toBeUndefined();
    expect(lock.users).toEqual([]);
    lock.handle(
      sealFrame(KEY, {
        type: 'writeUserAccountIdRequest',
        lockId: LOCK,
        keyId: 1,
        counter: 1,
        deadline: 2_000_000_000,
        mode: 'add',
        userId: 'alice@as1.irsp.test',
      }),
    );
    expect(openFrame(KEY, lock.handle(request(2))!)).toMatchObject({
      ok: true,
      value: { status: 4004, bolt: 'jammed' },
    });
  });
});
