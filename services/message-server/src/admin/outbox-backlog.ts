/** What the outbox holds per receiver (an application server's name, or the account server): for operators. */
import type { Queryable } from '@irsp/store';

export async function outboxBacklog(db: Queryable) {
  const [backlog, dead] = await Promise.all([
    db.query<{ target: string; count: number; oldest: number; last_error: string | null }>(
      `SELECT target, count(*)::int AS count,
              floor(extract(epoch FROM now() - min(created_at)))::int AS oldest,
              (array_agg(last_error ORDER BY id DESC) FILTER (WHERE last_error IS NOT NULL))[1] AS last_error
         FROM outbox GROUP BY target ORDER BY target`,
    ),
    db.query<{ count: number }>('SELECT count(*)::int AS count FROM dead_letters'),
  ]);
  return {
    outbox: backlog.rows.map((r) => ({
      target: r.target,
      count: r.count,
      oldestAgeSeconds: Math.max(0, r.oldest),
      lastError: r.last_error,
    })),
    deadLetters: dead.rows[0]?.count ?? 0,
  };
}
