/**
 * Offline storage (XEP-0160): a message is written to the database before the sender's stanza is considered
 * handled, and removed only after it has been written to the recipient's stream at its next login — so a
 * connection lost half-way gets the rest again (at least once, never lost). A per-recipient limit and an expiry
 * keep one account from filling the database.
 */
import type { Db } from '@irsp/store';

export interface OfflineLimits {
  /** Messages kept per recipient; one more is refused with `resource-constraint`. */
  maxPerRecipient: number;
  /** How long a message is kept (ms). */
  ttlMs: number;
}

export const DEFAULT_OFFLINE_LIMITS: OfflineLimits = { maxPerRecipient: 1000, ttlMs: 30 * 24 * 3600 * 1000 };

export interface StoredMessage {
  id: string;
  stanza: string;
  storedAt: Date;
}

export class OfflineStore {
  constructor(
    private readonly db: Db,
    private readonly limits: OfflineLimits,
  ) {}

  /**
   * Stores a message for `owner`; false when its storage is full. Two statements in one transaction: the
   * per-recipient lock, then the insert guarded by the count. Under READ COMMITTED the insert's snapshot is
   * taken after the lock is held, so it counts every message a concurrent writer committed before.
   */
  async store(owner: string, stanza: string): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      // One writer per recipient at a time, so concurrent senders cannot overrun the limit.
      await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`offline:${owner}`]);
      const inserted = await tx.query(
        `INSERT INTO offline_messages (owner, stanza, expires_at)
         SELECT $1, $2, now() + make_interval(secs => $3::double precision / 1000)
          WHERE (SELECT count(*) FROM offline_messages WHERE owner = $1 AND expires_at > now()) < $4`,
        [owner, stanza, this.limits.ttlMs, this.limits.maxPerRecipient],
      );
      return inserted.rowCount === 1;
    });
  }

  /** The messages waiting for `owner`, oldest first (expired ones are deleted on the way). */
  async pending(owner: string): Promise<StoredMessage[]> {
    await this.db.query('DELETE FROM offline_messages WHERE owner = $1 AND expires_at <= now()', [owner]);
    const r = await this.db.query<{ id: string; stanza: string; stored_at: Date }>(
      'SELECT id, stanza, stored_at FROM offline_messages WHERE owner = $1 ORDER BY id',
      [owner],
    );
    return r.rows.map((row) => ({ id: row.id, stanza: row.stanza, storedAt: row.stored_at }));
  }

  /** Removes messages once they have been written to the recipient. */
  async delivered(ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.db.query('DELETE FROM offline_messages WHERE id = ANY($1::bigint[])', [ids]);
  }

  /** Deletes every expired message of every account (run now and then). */
  async expire(): Promise<number> {
    return (await this.db.query('DELETE FROM offline_messages WHERE expires_at <= now()')).rowCount;
  }
}
