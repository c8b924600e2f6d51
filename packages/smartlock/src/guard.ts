/**
 * The CommandGuard: what a BSLD checks before it acts on a request frame (Tables 3, 5 and 7). Pure: the lock's
 * memory goes in, the verdict and the memory to keep come out, so the simulator and tests can drive it with any
 * clock. Our design; the standard's text is not available (docs/smartlock.md, "What the lock checks").
 */
import { openFrame, type FrameOf } from './frames.js';
import { STATUS } from './status.js';

/**
 * What a lock remembers besides its key (kept apart so that the memory can be logged): who it is, the last counter
 * it accepted and the user account IDs written to it.
 */
export interface LockMemory {
  lockId: string;
  keyId: number;
  lastCounter: number;
  users: readonly string[];
}

export type RequestFrame = FrameOf<
  'writeUserAccountIdRequest' | 'authenticateUserAccountIdRequest' | 'lockOperationRequest'
>;
export type CommandRefusal = 'integrity' | 'replayed' | 'expired' | 'unknown-user';

export type GuardVerdict =
  | { ok: true; request: RequestFrame; memory: LockMemory }
  | { ok: false; refusal: CommandRefusal; detail: string; memory: LockMemory };

/** The Table 1 status a lock answers each refusal with (in the status field of Tables 4, 6 and 8). */
export const REFUSAL_STATUS = {
  integrity: STATUS.integrityCheckFailed.code,
  replayed: STATUS.commandReplayed.code,
  expired: STATUS.commandExpired.code,
  'unknown-user': STATUS.lockRefusedUser.code,
} as const satisfies Record<CommandRefusal, number>;

const isRequest = (frame: { type: string }): frame is RequestFrame => frame.type.endsWith('Request');

/**
 * Checks, in this order: the frame opens under `key` and is a request for this lock and key ID
 * ('integrity'); its counter is above the last accepted ('replayed'); its deadline, in Unix seconds, is not before
 * `now` ('expired'); its user account ID is stored, except when one is being added ('unknown-user').
 *
 * An authentic, fresh counter is used up even when the request is then refused as expired or for its user, so
 * that nobody can hold a refused frame back and present it again once it would pass.
 */
export function guardCommand(
  key: Uint8Array,
  memory: LockMemory,
  bytes: Uint8Array,
  now: number,
): GuardVerdict {
  const refuse = (refusal: CommandRefusal, detail: string, kept = memory): GuardVerdict => ({
    ok: false,
    refusal,
    detail,
    memory: kept,
  });
  const opened = openFrame(key, bytes);
  if (!opened.ok) return refuse('integrity', opened.error.message);
  const frame = opened.value;
  if (!isRequest(frame)) return refuse('integrity', 'not a request');
  if (frame.lockId !== memory.lockId || frame.keyId !== memory.keyId)
    return refuse('integrity', 'not for this lock and key');
  if (frame.counter <= memory.lastCounter) return refuse('replayed', 'counter not above the last accepted');

  const used: LockMemory = { ...memory, lastCounter: frame.counter };
  if (frame.deadline < now) return refuse('expired', 'deadline passed', used);
  const known = memory.users.includes(frame.userId);
  if (frame.type === 'writeUserAccountIdRequest' && frame.mode === 'add') {
    const users = known ? memory.users : [...memory.users, frame.userId];
    return { ok: true, request: frame, memory: { ...used, users } };
  }
  if (!known) return refuse('unknown-user', 'user account ID not stored', used);
  if (frame.type === 'writeUserAccountIdRequest') {
    return {
      ok: true,
      request: frame,
      memory: { ...used, users: memory.users.filter((u) => u !== frame.userId) },
    };
  }
  return { ok: true, request: frame, memory: used };
}
