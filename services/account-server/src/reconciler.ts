/**
 * Finishes what a failure left unsettled (docs/consistency.md): a registration whose Message 1/2 got no
 * answer ('pending') and a removal whose Message 5/6 got none ('removing') are both settled by removing the
 * account from its message server and then here. Pending rows younger than `settleAfterMs` may still have a
 * request in flight and are left alone.
 */
import { sendRemove } from './accounts.js';
import type { AccountServerContext } from './context.js';

export interface ReconcilerOptions {
  intervalMs: number;
  settleAfterMs: number;
}

export async function reconcileOnce(ctx: AccountServerContext, settleAfterMs: number): Promise<number> {
  const unsettled = await ctx.db.query<{
    local_part: string;
    kind: 'user' | 'device';
    domain: string;
    state: string;
  }>(
    `SELECT local_part, kind, domain, state FROM accounts
      WHERE state <> 'active' AND updated_at < now() - make_interval(secs => $1::double precision / 1000)
      ORDER BY updated_at LIMIT 100`,
    [settleAfterMs],
  );
  let settled = 0;
  for (const row of unsettled.rows) {
    const as = ctx.directory.as(row.domain);
    if (!as) continue;
    const outcome = await sendRemove(ctx, as, row.kind, row.local_part);
    if (outcome.kind === 'status' && (outcome.status === 200 || outcome.status === 422)) {
      const deleted = await ctx.db.query(`DELETE FROM accounts WHERE local_part = $1 AND state = $2`, [
        row.local_part,
        row.state,
      ]);
      settled += deleted.rowCount;
      ctx.logger.info(
        { localPart: row.local_part, domain: row.domain, was: row.state },
        'unsettled account removed',
      );
    }
  }
  return settled;
}

export function startReconciler(ctx: AccountServerContext, options: ReconcilerOptions): () => Promise<void> {
  let round: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    round = round
      .then(() => reconcileOnce(ctx, options.settleAfterMs))
      .catch((error: unknown) => {
        ctx.logger.error({ err: error }, 'reconciliation failed');
      });
  }, options.intervalMs);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await round;
  };
}
