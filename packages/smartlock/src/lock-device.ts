/**
 * A BSLD as a program (clause 6.5): its key, its memory (the last counter accepted and the user account IDs written
 * to it), its bolt and battery. It answers every request frame it can trust with the matching response frame
 * (Tables 4, 6, 8), refusals included, and stays silent on one it cannot (forged, or for another lock): a forger
 * learns nothing. Used by the simulator and the tests; a real lock runs the same checks (guard.ts) in firmware.
 */
import { openFrame, sealFrame, type FrameInput } from './frames.js';
import { REFUSAL_STATUS, guardCommand, type LockMemory } from './guard.js';
import { STATUS } from './status.js';

export type BoltState = 'locked' | 'unlocked' | 'jammed';

/** What a lock keeps across power cycles (its flash): the simulator saves it. */
export interface LockDeviceState {
  memory: LockMemory;
  bolt: BoltState;
  battery: number;
}

export class LockDevice {
  private memory: LockMemory;
  bolt: BoltState;
  battery: number;

  constructor(
    readonly lockId: string,
    private readonly key: Uint8Array,
    options: { keyId?: number; bolt?: BoltState; battery?: number; memory?: LockMemory } = {},
  ) {
    this.memory = options.memory ?? { lockId, keyId: options.keyId ?? 1, lastCounter: 0, users: [] };
    this.bolt = options.bolt ?? 'locked';
    this.battery = options.battery ?? 100;
  }

  get state(): LockDeviceState {
    return { memory: this.memory, bolt: this.bolt, battery: this.battery };
  }

  /** The user account IDs the lock holds (what Table 3 wrote). */
  get users(): readonly string[] {
    return this.memory.users;
  }

  get lastCounter(): number {
    return this.memory.lastCounter;
  }

  /** A request frame in, its response frame out; undefined for a frame it cannot trust. `now` in Unix seconds. */
  handle(bytes: Uint8Array, now = Math.floor(Date.now() / 1000)): Buffer | undefined {
    const opened = openFrame(this.key, bytes);
    const verdict = guardCommand(this.key, this.memory, bytes, now);
    this.memory = verdict.memory;
    if (!opened.ok || (!verdict.ok && verdict.refusal === 'integrity')) return undefined;
    const request = opened.value;
    const status = verdict.ok ? STATUS.ok.code : REFUSAL_STATUS[verdict.refusal];
    if (verdict.ok && request.type === 'lockOperationRequest' && this.bolt !== 'jammed')
      this.bolt = request.action === 'lock' ? 'locked' : 'unlocked';
    const echo = {
      lockId: this.lockId,
      keyId: request.keyId,
      counter: request.counter,
      deadline: request.deadline,
    };
    let response: FrameInput;
    switch (request.type) {
      case 'writeUserAccountIdRequest':
        response = { type: 'writeUserAccountIdResponse', ...echo, status };
        break;
      case 'authenticateUserAccountIdRequest':
        response = { type: 'authenticateUserAccountIdResponse', ...echo, status };
        break;
      case 'lockOperationRequest': {
        const jammed = verdict.ok && this.bolt === 'jammed';
        response = {
          type: 'lockOperationResponse',
          ...echo,
          status: jammed ? STATUS.lockJammed.code : status,
          bolt: this.bolt,
          battery: this.battery,
        };
        break;
      }
      default:
        return undefined;
    }
    return sealFrame(this.key, response);
  }
}
