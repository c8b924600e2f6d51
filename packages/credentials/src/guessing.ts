/**
 * Throttling of secret guessing — passwords (SASL and the HTTPS client API) and device verification codes — so that
 * a guesser slows himself, not the owner (docs/decisions/0010-guessing-throttle.md). Two layers:
 * - a per-process back-off per source (memory): a few free failures, then each attempt waits twice as long;
 * - sliding-window failure counts in the database, shared by every server of the service: per source and target
 *   pair, per target from sources it does not know, and per source over all targets. A source that recently
 *   succeeded for a target is "known" for it and is not held by the target's budget, so a guesser elsewhere does
 *   not lock the owner out.
 * A refused attempt is neither verified nor counted: the answer is the same whether the secret was right or not.
 */

/** Per-process exponential back-off per source. */
export interface BackoffOptions {
  freeFailures: number;
  baseDelayMs: number;
  maxDelayMs: number;
  forgetAfterMs: number;
  maxEntries: number;
}

/** Shared, database-held limits (per `windowMs`, sliding). */
export interface GuessLimits {
  windowMs: number;
  /** Failures one source may make on one target. */
  perPair: number;
  /** Failures one target may take from sources not known to it. */
  perTarget: number;
  /** Failures one source not known to the target may make over all targets. */
  perSource: number;
  /** How long a success keeps its source known for the target (0: no known sources). */
  knownForMs: number;
  /** Only the most recently successful sources of a target count as known. */
  maxKnownSources: number;
}

export interface GuessPolicyOptions {
  backoff: BackoffOptions;
  limits: GuessLimits;
}

/** The minimal SQL surface used (a `Db` of @irsp/store fits). */
export interface SqlQueryable {
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<{ rows: T[] }>;
}

interface Entry {
  failures: number;
  last: number;
}

/** Failures per key with doubling waits; bounded in memory (least recently failed dropped first). */
export class Backoff {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly options: BackoffOptions,
    private readonly now: () => number = Date.now,
  ) {}

  /** Milliseconds an attempt from this key must still wait (0: go ahead). */
  wait(key: string): number {
    const entry = this.entries.get(key);
    if (!entry) return 0;
    const now = this.now();
    if (now - entry.last >= this.options.forgetAfterMs) {
      this.entries.delete(key);
      return 0;
    }
    const over = entry.failures - this.options.freeFailures;
    if (over <= 0) return 0;
    const delay = Math.min(this.options.maxDelayMs, this.options.baseDelayMs * 2 ** Math.min(over - 1, 30));
    return Math.max(0, entry.last + delay - now);
  }

  failed(key: string): void {
    const now = this.now();
    const entry = this.entries.get(key);
    const fresh = !entry || now - entry.last >= this.options.forgetAfterMs;
    this.entries.delete(key); // re-inserted: Map order is then least recently failed first
    this.entries.set(key, { failures: fresh ? 1 : entry.failures + 1, last: now });
    if (this.entries.size > this.options.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
  }
}

/**
 * The source key of a network address: IPv4 as is (IPv4-mapped IPv6 unwrapped), IPv6 by its /64 (one subscriber
 * holds a whole /64, so single addresses would give a guesser 2^64 fresh sources).
 */
export function addressSource(address: string | undefined): string {
  if (address === undefined || address === '') return 'unknown';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (!address.includes(':')) return address;
  const bare = address.split('%')[0]!.toLowerCase();
  const [head, tail] = bare.split('::') as [string, string | undefined];
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups =
    tail === undefined
      ? left
      : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

/** What a database gives the policy (a `Db` of @irsp/store fits). */
export interface SqlDb extends SqlQueryable {
  transaction<T>(fn: (tx: SqlQueryable) => Promise<T>): Promise<T>;
}

/** An admitted attempt: counted as a failure from the moment it is admitted, until it is known to be right. */
export interface GuessTicket {
  target: string;
  source: string;
  id: string;
}

export type GuessVerdict =
  | {
      allowed: true;
      known: boolean;
      ticket: GuessTicket;
      /** Failures in the window before this attempt: of the pair, of the target from unknown sources, of the source. */
      counts: { pair: number; target: number; source: number };
    }
  | { allowed: false; retryAfterMs: number; limit: 'backoff' | 'pair' | 'target' | 'source' };

type Limit = 'pair' | 'target' | 'source';

/** Which failures each limit counts ($2 target, $3 source). */
const COUNTED: Record<Limit, string> = {
  pair: 'target = $2 AND source = $3',
  target: 'target = $2 AND NOT known',
  source: 'source = $3 AND NOT known',
};

/**
 * The guessing policy of one scope (`password`, `verifycode`): `admit` an attempt before its outcome is told, then
 * `failed` or `succeeded`. Counters live in `guess_failures` and known sources in `guess_known_sources` of the
 * service's database (its migration creates them), so every server of the service sees the same counts.
 */
export class GuessPolicy {
  private readonly backoff: Backoff;

  constructor(
    private readonly scope: string,
    private readonly options: GuessPolicyOptions,
    private readonly db: SqlDb,
    private readonly now: () => number = Date.now,
  ) {
    this.backoff = new Backoff(options.backoff, now);
  }

  /** The per-process back-off alone: cheap, for checks before any work (e.g. at SASL `<auth>`). */
  sourceWait(source: string): number {
    return this.backoff.wait(source);
  }

  /**
   * Whether an attempt of `source` on `target` may be told its outcome. An admitted attempt is recorded at once (as
   * a failure, until `succeeded` says otherwise) under a lock per target and per source, so that attempts made in
   * parallel — on many streams or servers — cannot all pass before any of them is counted.
   */
  async admit(target: string, source: string): Promise<GuessVerdict> {
    const wait = this.backoff.wait(source);
    if (wait > 0) return { allowed: false, retryAfterMs: wait, limit: 'backoff' };
    const { windowMs, perPair, perTarget, perSource, knownForMs, maxKnownSources } = this.options.limits;
    const now = this.now();
    const since = now - windowMs;
    return this.db.transaction(async (tx) => {
      // The target's lock, then the source's: every admit takes them in this order, so none waits for another
      // that waits for it.
      for (const [kind, key] of [
        ['target', target],
        ['source', source],
      ])
        await tx.query('SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))', [
          `guess ${this.scope} ${kind}`,
          key,
        ]);
      const r = await tx.query<{ pair: number; target: number; source: number; known: boolean }>(
        `SELECT count(*) FILTER (WHERE ${COUNTED.pair})::int AS pair,
                count(*) FILTER (WHERE ${COUNTED.target})::int AS target,
                count(*) FILTER (WHERE ${COUNTED.source})::int AS source,
                EXISTS (SELECT 1 FROM (SELECT source FROM guess_known_sources
                                        WHERE scope = $1 AND target = $2 AND last_success_ms > $5
                                        ORDER BY last_success_ms DESC LIMIT $6) k
                         WHERE k.source = $3) AS known
           FROM guess_failures WHERE scope = $1 AND (target = $2 OR source = $3) AND at_ms > $4`,
        [this.scope, target, source, since, now - knownForMs, maxKnownSources],
      );
      const counts = r.rows[0]!;
      const over: Limit | undefined =
        counts.pair >= perPair
          ? 'pair'
          : counts.known
            ? undefined
            : counts.target >= perTarget
              ? 'target'
              : counts.source >= perSource
                ? 'source'
                : undefined;
      if (over !== undefined) {
        const limit = { pair: perPair, target: perTarget, source: perSource }[over];
        // Refused until the oldest failure that keeps the count at its limit leaves the window.
        // Every statement uses each of its parameters (PostgreSQL cannot type an unused one).
        const keys = over === 'pair' ? [target, source] : over === 'target' ? [target] : [source];
        const where = over === 'pair' ? COUNTED.pair : COUNTED[over].replace('$3', '$2');
        const oldest = await tx.query<{ at_ms: string | number }>(
          `SELECT at_ms FROM guess_failures WHERE scope = $1 AND ${where} AND at_ms > $${keys.length + 2}
            ORDER BY at_ms DESC OFFSET $${keys.length + 3} LIMIT 1`,
          [this.scope, ...keys, since, limit - 1],
        );
        const at = Number(oldest.rows[0]?.at_ms ?? now);
        return { allowed: false, retryAfterMs: Math.max(1, at + windowMs - now), limit: over } as const;
      }
      const inserted = await tx.query<{ id: string | number }>(
        `INSERT INTO guess_failures (scope, target, source, known, at_ms) VALUES ($1, $2, $3, $4, $5) RETURNING id`,
        [this.scope, target, source, counts.known, now],
      );
      const ticket = { target, source, id: String(inserted.rows[0]!.id) };
      const { pair, target: onTarget, source: ofSource } = counts;
      return {
        allowed: true,
        known: counts.known,
        ticket,
        counts: { pair, target: onTarget, source: ofSource },
      } as const;
    });
  }

  /** The admitted attempt was wrong: it stays counted, and the source backs off here. */
  async failed(ticket: GuessTicket): Promise<void> {
    this.backoff.failed(ticket.source);
    // Rows out of the window are of no use; with the (scope, at_ms) index this is cheap when there are none.
    await this.db.query('DELETE FROM guess_failures WHERE scope = $1 AND at_ms <= $2', [
      this.scope,
      this.now() - this.options.limits.windowMs,
    ]);
  }

  /** The admitted attempt was right: not a failure after all, and its source is known for the target. */
  async succeeded(ticket: GuessTicket): Promise<void> {
    const { knownForMs, maxKnownSources } = this.options.limits;
    if (knownForMs <= 0 || maxKnownSources <= 0) {
      await this.db.query('DELETE FROM guess_failures WHERE id = $1', [ticket.id]);
      return;
    }
    // One statement (one round trip per login): the attempt's row goes, its source is known as of now, and the
    // target's other known sources that have expired are forgotten.
    const now = this.now();
    await this.db.query(
      `WITH attempt AS (DELETE FROM guess_failures WHERE id = $1),
            known AS (INSERT INTO guess_known_sources (scope, target, source, last_success_ms)
                      VALUES ($2, $3, $4, $5)
                      ON CONFLICT (scope, target, source) DO UPDATE SET last_success_ms = EXCLUDED.last_success_ms)
       DELETE FROM guess_known_sources
        WHERE scope = $2 AND target = $3 AND source <> $4 AND last_success_ms <= $6`,
      [ticket.id, this.scope, ticket.target, ticket.source, now, now - knownForMs],
    );
  }
}

/**
 * The failures the throttles still count, newest first, for operators (the admin API): an attempt is a failure
 * from its admission until it is known to be right, so one in flight shows for a moment too.
 */
export async function recentFailures(
  db: SqlQueryable,
  limit: number,
): Promise<{ scope: string; target: string; source: string; at: string }[]> {
  const r = await db.query<{ scope: string; target: string; source: string; at_ms: string | number }>(
    'SELECT scope, target, source, at_ms FROM guess_failures ORDER BY at_ms DESC, id DESC LIMIT $1',
    [limit],
  );
  return r.rows.map((row) => ({
    scope: row.scope,
    target: row.target,
    source: row.source,
    at: new Date(Number(row.at_ms)).toISOString(),
  }));
}
