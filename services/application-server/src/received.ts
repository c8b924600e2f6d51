/** The default application: every message received is recorded, in arrival order. */
import type { Db, Queryable } from '@irsp/store';

/** How the caller proved who it is: not application data, not kept. */
const CREDENTIALS = new Set(['appid', 'token', 'timestamp', 'nonce']);

export interface ReceivedMessage {
  id: number;
  message: number;
  operation: string;
  params: Record<string, string>;
  receivedAt: string;
}

export async function record(
  db: Queryable,
  message: number,
  operation: string,
  params: Record<string, string>,
): Promise<200> {
  const data = Object.fromEntries(Object.entries(params).filter(([name]) => !CREDENTIALS.has(name)));
  await db.query('INSERT INTO received (message, operation, params) VALUES ($1, $2, $3)', [
    message,
    operation,
    JSON.stringify(data),
  ]);
  return 200;
}

export async function listReceived(db: Db, after: number, limit: number): Promise<ReceivedMessage[]> {
  const r = await db.query<{
    id: string;
    message: number;
    operation: string;
    params: Record<string, string>;
    received_at: Date;
  }>('SELECT id, message, operation, params, received_at FROM received WHERE id > $1 ORDER BY id LIMIT $2', [
    after,
    limit,
  ]);
  return r.rows.map((row) => ({
    id: Number(row.id),
    message: row.message,
    operation: row.operation,
    params: row.params,
    receivedAt: row.received_at.toISOString(),
  }));
}
