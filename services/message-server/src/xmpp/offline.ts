/**
 * Offline storage (XEP-0160): a message is written to the database (in group commits, in order) before it counts
 * as stored or refused, and removed only after it has been written to the recipient's stream at its next login — so a
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

interface Waiting {
  owner: string;
  stanza: string;
  resolve(stored: boolean): void;
  reject(error: unknown): void;
}

/** Messages written in one transaction at most (group commit). */
const MAX_BATCH = 500;

export class OfflineStore {
  /** Messages waiting for the next group commit, in the order they were handed over. */
  private waiting: Waiting[] = [];
  private writing: Promise<void> | undefined;

  constructor(
    private readonly db: Db,
    private readonly limits: OfflineLimits,
  ) {}

  /**
   * Stores a message for `owner`; resolves false when its storage is full. Messages handed over while a write is
   * under way are written together in the next transaction (group commit), in order: a sender that does not wait
   * for each commit is not bound by the database's commit latency.
   */
  store(owner: string, stanza: string): Promise<boolean> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ owner, stanza, resolve, reject });
      this.writing ??= this.writeAll();
    });
  }

  /** Resolves once every message handed over so far is written (or refused). */
  async settled(): Promise<void> {
    while (this.writing) await this.writing;
  }

  private async writeAll(): Promise<void> {
    while (this.waiting.length > 0) {
      const batch = this.waiting.splice(0, MAX_BATCH);
      try {
        const stored = await this.write(batch);
        batch.forEach((message, i) => message.resolve(stored[i]!));
      } catch (error) {
        for (const message of batch) message.reject(error);
      }
    }
    this.writing = undefined;
  }

  /**
   * One transaction: each recipient's lock (in a fixed order, so that message servers sharing the database cannot
   * deadlock), its count, then every message that still fits, inserted in the order given. Under READ COMMITTED
   * the count's snapshot is taken after the locks are held, so it includes every message a concurrent writer
   * committed before.
   */
  private async write(batch: Waiting[]): Promise<boolean[]> {
    return this.db.transaction(async (tx) => {
      const owners = [...new Set(batch.map((m) => m.owner))].sort();
      for (const owner of owners)
        await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`offline:${owner}`]);
      const counts = await tx.query<{ owner: string; n: number }>(
        `SELECT owner, count(*)::int AS n FROM offline_messages
          WHERE owner = ANY($1::text[]) AND expires_at > now() GROUP BY owner`,
        [owners],
      );
      const room = new Map(owners.map((o) => [o, this.limits.maxPerRecipient]));
      for (const row of counts.rows) room.set(row.owner, this.limits.maxPerRecipient - row.n);
      const stored = batch.map((m) => {
        const left = room.get(m.owner)!;
        room.set(m.owner, left - 1);
        return left > 0;
      });
      const accepted = batch.filter((_, i) => stored[i]);
      if (accepted.length > 0) {
        // ORDER BY the position, so ids (the delivery order) follow the order the messages were handed over.
        await tx.query(
          `INSERT INTO offline_messages (owner, stanza, expires_at)
           SELECT m.owner, m.stanza, now() + make_interval(secs => $3::double precision / 1000)
             FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS m (owner, stanza, position)
            ORDER BY m.position`,
          [accepted.map((m) => m.owner), accepted.map((m) => m.stanza), this.limits.ttlMs],
        );
      }
      return stored;
    });
  }

  /** The messages waiting for `owner`, oldest first (expired ones are deleted on the way). */
  async pending(owner: string): Promise<StoredMessage[]> {
    // Messages still on their way to the database come first.
    await this.settled();
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
