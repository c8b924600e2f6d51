/**
 * Offline storage (XEP-0160): a message is written to the database (in group commits, in order) before it counts
 * as stored or refused, and removed only once the recipient's session has confirmed it at its next login (acknowledged
 * with XEP-0198, else handed to the operating system) — so a connection lost half-way gets the rest again. A per-recipient limit and an expiry
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

/**
 * Stores $2 (stanzas) for $1 (their recipients, same length) with expiry now + $3 ms, up to $4 per recipient;
 * answers one row with the 1-based positions refused. `decided` is materialised once, so the insert and the
 * answer share one decision; the insert's ORDER BY gives ids (the delivery order) in the order handed over.
 */
const STORE_SQL = `
  WITH batch AS (
    SELECT m.owner, m.stanza, m.position, row_number() OVER (PARTITION BY m.owner ORDER BY m.position) AS k
      FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS m (owner, stanza, position)
  ), held AS (
    SELECT owner, count(*) AS n FROM offline_messages
     WHERE owner = ANY($1::text[]) AND expires_at > now() GROUP BY owner
  ), decided AS MATERIALIZED (
    SELECT b.owner, b.stanza, b.position, b.k + coalesce(h.n, 0) <= $4::int AS fits
      FROM batch b LEFT JOIN held h USING (owner)
  ), stored AS (
    INSERT INTO offline_messages (owner, stanza, expires_at)
    SELECT owner, stanza, now() + make_interval(secs => $3::double precision / 1000)
      FROM decided WHERE fits ORDER BY position
  )
  SELECT coalesce(array_agg(position ORDER BY position) FILTER (WHERE NOT fits), '{}') AS refused FROM decided`;

export class OfflineStore {
  /** Messages waiting for the next group commit, in the order they were handed over. */
  private waiting: Waiting[] = [];
  private writing: Promise<void> | undefined;
  /** Each recipient's last message not yet written or refused: group commits keep order, so it settles last. */
  private readonly lastOf = new Map<string, Promise<boolean>>();

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
    const outcome = new Promise<boolean>((resolve, reject) => {
      this.waiting.push({ owner, stanza, resolve, reject });
      this.writing ??= this.writeAll();
    });
    this.lastOf.set(owner, outcome);
    const forget = () => {
      if (this.lastOf.get(owner) === outcome) this.lastOf.delete(owner);
    };
    outcome.then(forget, forget);
    return outcome;
  }

  /** Resolves once every message handed over so far is written (or refused). */
  async settled(): Promise<void> {
    while (this.writing) await this.writing;
  }

  /**
   * Resolves once every message handed over so far for `owner` is written (or refused) — not waiting for other
   * recipients' messages, which may keep coming.
   */
  async settledFor(owner: string): Promise<void> {
    for (let last = this.lastOf.get(owner); last; last = this.lastOf.get(owner))
      await last.then(
        () => undefined,
        () => undefined,
      );
  }

  /** Whether messages are stored for `owner` (after those handed over so far are written). */
  async holds(owner: string): Promise<boolean> {
    await this.settledFor(owner);
    const r = await this.db.query<{ held: boolean }>(
      'SELECT EXISTS (SELECT 1 FROM offline_messages WHERE owner = $1 AND expires_at > now()) AS held',
      [owner],
    );
    return r.rows[0]!.held;
  }

  private async writeAll(): Promise<void> {
    // A read from a socket hands over all its stanzas before the event loop turns: let them join the first group.
    await new Promise<void>((resolve) => setImmediate(resolve));
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
   * One statement counts each recipient's unexpired messages once and inserts, in the order given, every message
   * that still fits: the k-th message of a recipient holding n fits when n + k ≤ the limit. It answers the
   * positions (1-based) refused. A single statement is atomic and sees one snapshot.
   *
   * PGlite is one session running one statement at a time, so nothing can store concurrently and the statement
   * alone is enough (no transaction or lock around it). On PostgreSQL, message servers sharing the database may
   * store for the same recipient at once: each recipient's advisory lock is taken first (in a fixed order, so
   * they cannot deadlock), and under READ COMMITTED the statement's snapshot is taken after the locks are held,
   * so its count includes every message a concurrent writer committed before.
   */
  private async write(batch: Waiting[]): Promise<boolean[]> {
    const params = [
      batch.map((m) => m.owner),
      batch.map((m) => m.stanza),
      this.limits.ttlMs,
      this.limits.maxPerRecipient,
    ];
    const result =
      this.db.kind === 'pglite'
        ? await this.db.query<{ refused: string[] }>(STORE_SQL, params)
        : await this.db.transaction(async (tx) => {
            const owners = [...new Set(batch.map((m) => m.owner))].sort();
            await tx.query(
              'SELECT pg_advisory_xact_lock(hashtext(owner)) FROM unnest($1::text[]) WITH ORDINALITY AS o (owner, position) ORDER BY position',
              [owners.map((o) => `offline:${o}`)],
            );
            return tx.query<{ refused: string[] }>(STORE_SQL, params);
          });
    const refused = new Set(result.rows[0]!.refused.map(Number));
    return batch.map((_, i) => !refused.has(i + 1));
  }

  /**
   * The messages waiting for `owner`, oldest first — after the message `after` and at most `limit` of them when
   * given (a backlog is read a window at a time). Expired ones are deleted on the way.
   */
  async pending(owner: string, window: { after?: string; limit?: number } = {}): Promise<StoredMessage[]> {
    // The recipient's messages still on their way to the database come first.
    await this.settledFor(owner);
    // One statement, one snapshot and one now(): the rows it deletes are exactly those it does not answer.
    const r = await this.db.query<{ id: string; stanza: string; stored_at: Date }>(
      `WITH expired AS (DELETE FROM offline_messages WHERE owner = $1 AND expires_at <= now())
       SELECT id, stanza, stored_at FROM offline_messages
        WHERE owner = $1 AND expires_at > now() AND id > $2::bigint ORDER BY id LIMIT $3::int`,
      [owner, window.after ?? '0', window.limit ?? null],
    );
    return r.rows.map((row) => ({ id: row.id, stanza: row.stanza, storedAt: row.stored_at }));
  }

  /** Removes messages once the recipient's session has confirmed them (sendConfirmed). */
  async delivered(ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.db.query('DELETE FROM offline_messages WHERE id = ANY($1::bigint[])', [ids]);
  }

  /** Deletes every expired message of every account (run now and then). */
  async expire(): Promise<number> {
    return (await this.db.query('DELETE FROM offline_messages WHERE expires_at <= now()')).rowCount;
  }
}
