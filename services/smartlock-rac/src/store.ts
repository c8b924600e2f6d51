/**
 * The locks a user knows, kept in the browser (localStorage, per user ID) between the RAS's list at login
 * (lockList) and the pushes that change it, so the page shows them at once. What is read back is checked like any
 * input; anything unreadable is dropped.
 */
import { boltStateSchema, lockIdSchema, nameSchema, timestampSchema } from '@irsp/smartlock/rac';
import { z } from 'zod';

const windowSchema = z.strictObject({ from: timestampSchema, until: timestampSchema });

const knownLockSchema = z.strictObject({
  lockId: lockIdSchema,
  name: nameSchema,
  role: z.enum(['owner', 'guest']),
  gatewayId: z.string().optional(),
  from: timestampSchema.optional(),
  until: timestampSchema.optional(),
  /** The bolt as last reported, or a command on its way. */
  state: z.union([boltStateSchema, z.enum(['locking', 'unlocking'])]).optional(),
  battery: z.number().int().min(0).max(100).optional(),
  /** The owner's grants, by grantee. */
  grants: z.record(z.string(), windowSchema),
});
export type KnownLock = z.infer<typeof knownLockSchema>;

export class LockStore {
  private readonly key: string;
  private readonly locks = new Map<string, KnownLock>();

  constructor(userId: string) {
    this.key = `irsp-rac:locks:${userId}`;
    const stored = z.array(z.unknown()).safeParse(JSON.parse(localStorage.getItem(this.key) ?? '[]'));
    for (const item of stored.success ? stored.data : []) {
      const lock = knownLockSchema.safeParse(item);
      if (lock.success) this.locks.set(lock.data.lockId, lock.data);
    }
  }

  all(): KnownLock[] {
    return [...this.locks.values()];
  }

  get(lockId: string): KnownLock | undefined {
    return this.locks.get(lockId);
  }

  put(lock: KnownLock): void {
    this.locks.set(lock.lockId, lock);
    this.save();
  }

  update(lockId: string, change: Partial<KnownLock>): void {
    const lock = this.locks.get(lockId);
    if (lock) this.put({ ...lock, ...change });
  }

  /** The RAS's list replaces what was remembered. */
  replaceAll(locks: readonly KnownLock[]): void {
    this.locks.clear();
    for (const lock of locks) this.locks.set(lock.lockId, lock);
    this.save();
  }

  remove(lockId: string): void {
    this.locks.delete(lockId);
    this.save();
  }

  private save(): void {
    localStorage.setItem(this.key, JSON.stringify(this.all()));
  }
}
