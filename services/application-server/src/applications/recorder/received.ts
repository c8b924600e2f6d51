/** What the recorder keeps: every message received, in arrival order (table `received`, migrations 001 and 005). */
import type { DeliveryMark } from '@irsp/protocol';
import type { Db, Queryable } from '@irsp/store';

/** How the caller proved who it is: not application data, not kept. */
const CREDENTIALS = new Set(['appid', 'token', 'timestamp', 'nonce']);

export interface ReceivedMessage {
  id: number;
  message: number;
  operation: string;
  params: Record<string, string>;
  /** The sender's delivery mark (IRSP-Delivery-Id/-Attempt), when it sent one: a retry shows here. */
  delivery: DeliveryMark | null;
  receivedAt: string;
}

export async function record(
  db: Queryable,
  message: number,
  operation: string,
  params: Record<string, string>,
  delivery?: DeliveryMark,
): Promise<200> {
  const data = Object.fromEntries(Object.entries(params).filter(([name]) => !CREDENTIALS.has(name)));
  await db.query(
    `INSERT INTO received (message, operation, params, delivery_id, delivery_attempt)
     VALUES ($1, $2, $3, $4, $5)`,
    [message, operation, JSON.stringify(data), delivery?.id ?? null, delivery?.attempt ?? null],
  );
  return 200;
}

export async function listReceived(db: Db, after: number, limit: number): Promise<ReceivedMessage[]> {
  const r = await db.query<{
    id: string;
    message: number;
    operation: string;
    params: Record<string, string>;
    delivery_id: string | null;
    delivery_attempt: number | null;
    received_at: Date;
  }>(
    `SELECT id, message, operation, params, delivery_id, delivery_attempt, received_at
       FROM received WHERE id > $1 ORDER BY id LIMIT $2`,
    [after, limit],
  );
  return r.rows.map((row) => ({
    id: Number(row.id),
    message: row.message,
    operation: row.operation,
    params: row.params,
    delivery:
      row.delivery_id === null || row.delivery_attempt === null
        ? null
        : { id: row.delivery_id, attempt: row.delivery_attempt },
    receivedAt: row.received_at.toISOString(),
  }));
}
