/** The CommandGuard: what the lock checks before it acts (Tables 3, 5, 7). */
import { describe, expect, it } from 'vitest';
import {
  REFUSAL_STATUS,
  STATUS,
  guardCommand,
  sealFrame,
  type FrameInput,
  type LockMemory,
} from '../src/index.js';

const KEY = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex');
const NOW = 1_796_666_400;
const MEMORY: LockMemory = { lockId: '00a1b2c3d4e5f607', keyId: 1, lastCounter: 41, users: ['alice'] };
const header = { lockId: MEMORY.lockId, keyId: 1, counter: 42, deadline: NOW + 60 };
const unlock = (over: Partial<FrameInput> = {}, key = KEY) =>
  sealFrame(key, {
    ...header,
    type: 'lockOperationRequest',
    action: 'unlock',
    userId: 'alice',
    ...over,
  } as FrameInput);

describe('guardCommand', () => {
  it('accepts a fresh, timely request of a stored user and remembers its counter', () => {
    const verdict = guardCommand(KEY, MEMORY, unlock(), NOW);
    expect(verdict).toMatchObject({ ok: true, request: { action: 'unlock', userId: 'alice', counter: 42 } });
    expect(verdict.memory).toEqual({ ...MEMORY, lastCounter: 42 });
    expect(guardCommand(KEY, MEMORY, unlock({ deadline: NOW }), NOW).ok).toBe(true);
  });

  it('refuses with integrity what does not open, is no request, or is for another lock or key', () => {
    const other = Buffer.from('0f0e0d0c0b0a09080706050403020100', 'hex');
    const response = sealFrame(KEY, { ...header, type: 'writeUserAccountIdResponse', status: 1000 });
    for (const bytes of [
      unlock({}, other),
      Buffer.from(unlock()).fill(0, 40, 41),
      response,
      unlock({ lockId: '00a1b2c3d4e5f608' }),
      unlock({ keyId: 2 }),
    ]) {
      expect(guardCommand(KEY, MEMORY, bytes, NOW)).toMatchObject({
        ok: false,
        refusal: 'integrity',
        memory: MEMORY,
      });
    }
  });

  it('refuses a replayed counter, equal or lower, and keeps its memory', () => {
    const first = guardCommand(KEY, MEMORY, unlock(), NOW);
    expect(guardCommand(KEY, first.memory, unlock(), NOW)).toEqual({
      ok: false,
      refusal: 'replayed',
      detail: 'counter not above the last accepted',
      memory: first.memory,
    });
    expect(guardCommand(KEY, MEMORY, unlock({ counter: 41 }), NOW)).toMatchObject({ refusal: 'replayed' });
  });

  it('refuses an expired command but uses its counter up', () => {
    expect(guardCommand(KEY, MEMORY, unlock({ deadline: NOW - 1 }), NOW)).toEqual({
      ok: false,
      refusal: 'expired',
      detail: 'deadline passed',
      memory: { ...MEMORY, lastCounter: 42 },
    });
  });

  it('refuses a user account ID it does not store, for lock, authenticate and remove', () => {
    const used = { ...MEMORY, lastCounter: 42 };
    const refused = {
      ok: false,
      refusal: 'unknown-user',
      detail: 'user account ID not stored',
      memory: used,
    };
    expect(guardCommand(KEY, MEMORY, unlock({ userId: 'bob' }), NOW)).toEqual(refused);
    const authBob = sealFrame(KEY, { ...header, type: 'authenticateUserAccountIdRequest', userId: 'bob' });
    expect(guardCommand(KEY, MEMORY, authBob, NOW)).toEqual(refused);
    const removeBob = sealFrame(KEY, {
      ...header,
      type: 'writeUserAccountIdRequest',
      mode: 'remove',
      userId: 'bob',
    });
    expect(guardCommand(KEY, MEMORY, removeBob, NOW)).toEqual(refused);
  });

  it('writes user account IDs (Table 3) and authenticates them (Table 5)', () => {
    const write = (mode: 'add' | 'remove', userId: string, counter: number) =>
      sealFrame(KEY, { ...header, counter, type: 'writeUserAccountIdRequest', mode, userId });
    const added = guardCommand(KEY, MEMORY, write('add', 'bob@as2.irsp.test', 42), NOW);
    expect(added.memory.users).toEqual(['alice', 'bob@as2.irsp.test']);
    const auth = sealFrame(KEY, {
      ...header,
      counter: 43,
      type: 'authenticateUserAccountIdRequest',
      userId: 'bob@as2.irsp.test',
    });
    expect(guardCommand(KEY, added.memory, auth, NOW).ok).toBe(true);
    const removed = guardCommand(KEY, added.memory, write('remove', 'alice', 44), NOW);
    expect(removed.memory).toEqual({ ...MEMORY, lastCounter: 44, users: ['bob@as2.irsp.test'] });
    expect(guardCommand(KEY, removed.memory, unlock({ counter: 45 }), NOW)).toMatchObject({
      refusal: 'unknown-user',
    });
  });

  it('maps each refusal to its Table 1 status', () => {
    expect(REFUSAL_STATUS).toEqual({
      integrity: STATUS.integrityCheckFailed.code,
      replayed: STATUS.commandReplayed.code,
      expired: STATUS.commandExpired.code,
      'unknown-user': STATUS.lockRefusedUser.code,
    });
    expect(Object.values(REFUSAL_STATUS)).toEqual([5004, 5003, 5002, 4003]);
  });
});
