/**
 * Finishes what a failure left unsettled (docs/consistency.md): a registration whose Message 1/2 got no
 * answer ('pending') and a removal whose Message 5/6 got none ('removing') are both settled by removing the
 * account from its message server and then here. Rows touched less than `settleAfterMs` ago may still have a
 * request in flight and are left alone.
 *
 * A round claims the rows it acts on (a random token and a lease, in one statement, `FOR UPDATE SKIP LOCKED`), so
 * two account-server instances sharing the database never both act on a row, and a client's retry, which takes
 * the row only while no claim is live (accounts.ts), never races a Message 5/6. PGlite runs one statement at a
 * time, which serialises the claims the same way. Rows are picked in turns across ASs (every AS's oldest due row
 * first, then every AS's second…), and a row the message server did not confirm waits out an exponential back-off
 * of its own, so an AS that cannot be reached never starves the others.
 */
import { randomUUID } from 'node:crypto';
import { sendRemove } from './accounts.js';
import type { AccountServerContext } from './context.js';

export interface ReconcilerOptions extends SettleOptions {
  /** The pause between the end of one round and the start of the next. */
  intervalMs: number;
  settleAfterMs: number;
}

export interface SettleOptions {
  /** Most rows claimed by one round. */
  batchSize?: number;
  /** Most Messages 5/6 in flight at once within a round. */
  concurrency?: number;
  /** How long a claim lasts: longer than Message 5/6 can take to every message server of an AS. */
  leaseMs?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
}

interface Claimed {
  local_part: string;
  kind: 'user' | 'device';
  domain: string;
  state: 'pending' | 'removing';
  settle_attempts: number;
}

/** One round: claims due unsettled rows and settles them. Returns how many rows were removed. */
export async function reconcileOnce(
  ctx: AccountServerContext,
  settleAfterMs: number,
  options: SettleOptions = {},
): Promise<number> {
  const batchSize = options.batchSize ?? 100;
  const concurrency = options.concurrency ?? 8;
  const leaseMs = options.leaseMs ?? Math.max(settleAfterMs, 60_000);
  const baseDelayMs = options.baseDelayMs ?? 30_000;
  const maxDelayMs = options.maxDelayMs ?? 3_600_000;
  const claim = randomUUID();
  // Due rows are ranked within their AS, and taken by rank: one AS's backlog cannot fill the batch before every
  // other AS has had its turn. The claim re-checks the row under its lock (a client may have touched it).
  const claimed = await ctx.db.query<Claimed>(
    `WITH due AS (
       SELECT local_part, row_number() OVER (PARTITION BY domain ORDER BY next_settle_at, updated_at, local_part) AS turn
         FROM accounts
        WHERE state <> 'active' AND updated_at < now() - make_interval(secs => $1::double precision / 1000)
          AND next_settle_at <= now() AND (claimed_until IS NULL OR claimed_until < now())),
     picked AS (
       SELECT a.local_part FROM accounts a
        WHERE a.local_part = ANY(ARRAY(SELECT local_part FROM due ORDER BY turn, local_part LIMIT $2))
          AND a.state <> 'active' AND a.updated_at < now() - make_interval(secs => $1::double precision / 1000)
          AND a.next_settle_at <= now() AND (a.claimed_until IS NULL OR a.claimed_until < now())
        FOR UPDATE SKIP LOCKED)
     UPDATE accounts SET claim = $3, claimed_until = now() + make_interval(secs => $4::double precision / 1000)
       FROM picked WHERE accounts.local_part = picked.local_part
     RETURNING accounts.local_part, accounts.kind, accounts.domain, accounts.state, accounts.settle_attempts`,
    [settleAfterMs, batchSize, claim, leaseMs],
  );
  // The order of the ranking, so that every AS's first row is sent before any AS's second.
  const turns = new Map<string, number>();
  const rows = claimed.rows
    .map((row) => {
      const turn = (turns.get(row.domain) ?? 0) + 1;
      turns.set(row.domain, turn);
      return { row, turn };
    })
    .sort((a, b) => a.turn - b.turn)
    .map((r) => r.row);

  const backOff = (attempts: number) =>
    Math.round(
      Math.min(maxDelayMs, baseDelayMs * 2 ** Math.min(attempts, 20)) * (0.75 + Math.random() * 0.5),
    );
  let settled = 0;
  let next = 0;
  const worker = async () => {
    while (next < rows.length) {
      const row = rows[next++]!;
      try {
        const removed = await settle(ctx, row, claim, backOff);
        settled += removed;
      } catch (error) {
        // The claim runs out and the row is taken again.
        ctx.logger.error({ err: error, localPart: row.local_part }, 'unsettled account not settled');
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, rows.length) }, worker));
  return settled;
}

/** Message 5/6 for one claimed row; the row is removed when confirmed, else released with its next attempt time. */
async function settle(
  ctx: AccountServerContext,
  row: Claimed,
  claim: string,
  delayMs: (attempts: number) => number,
): Promise<number> {
  const log = { localPart: row.local_part, domain: row.domain, was: row.state };
  const as = ctx.directory.as(row.domain);
  const outcome = as ? await sendRemove(ctx, as, row.kind, row.local_part) : undefined;
  if (outcome?.kind === 'status' && (outcome.status === 200 || outcome.status === 422)) {
    const deleted = await ctx.db.query(`DELETE FROM accounts WHERE local_part = $1 AND claim = $2`, [
      row.local_part,
      claim,
    ]);
    if (deleted.rowCount > 0) ctx.logger.info(log, 'unsettled account removed');
    return deleted.rowCount;
  }
  const retryInMs = delayMs(row.settle_attempts);
  await ctx.db.query(
    `UPDATE accounts SET claim = NULL, claimed_until = NULL, settle_attempts = settle_attempts + 1,
        next_settle_at = now() + make_interval(secs => $3::double precision / 1000)
      WHERE local_part = $1 AND claim = $2`,
    [row.local_part, claim, retryInMs],
  );
  const reason = !outcome
    ? 'AS no longer in the topology'
    : outcome.kind === 'status'
      ? `status ${outcome.status}`
      : outcome.kind === 'unexpected'
        ? `unexpected answer ${outcome.httpStatus}`
        : `unreachable: ${outcome.reason}`;
  ctx.logger.warn(
    { ...log, reason, attempts: row.settle_attempts + 1, retryInMs },
    'unsettled account: will retry',
  );
  return 0;
}

/**
 * Runs a round every `intervalMs`, counted from the end of the previous one: at most one round at a time, and a
 * round that outlasts the interval delays the next instead of queueing more.
 */
export function startReconciler(ctx: AccountServerContext, options: ReconcilerOptions): () => Promise<void> {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let round: Promise<void> = Promise.resolve();
  const schedule = () => {
    timer = setTimeout(() => {
      round = reconcileOnce(ctx, options.settleAfterMs, options)
        .then(
          () => undefined,
          (error: unknown) => ctx.logger.error({ err: error }, 'reconciliation failed'),
        )
        .finally(() => {
          if (!stopped) schedule();
        });
    }, options.intervalMs);
    timer.unref();
  };
  schedule();
  return async () => {
    stopped = true;
    clearTimeout(timer);
    await round;
  };
}
