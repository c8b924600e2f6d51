/** The replay guard of signed requests: a nonce is accepted once per caller while its timestamp can be fresh. */
import { SIGNATURE_WINDOW_SECONDS } from '@irsp/protocol';
import type { Db } from '@irsp/store';

const PRUNE_EVERY_MS = 60_000;

export class NonceStore {
  private lastPrune = 0;

  constructor(private readonly db: Db) {}

  /** True the first time `nonce` is seen for `scope`; false for a replay. */
  async consume(scope: string, nonce: string, timestamp: number): Promise<boolean> {
    if (Date.now() - this.lastPrune > PRUNE_EVERY_MS) {
      this.lastPrune = Date.now();
      await this.db.query('DELETE FROM nonces WHERE expires_at < now()');
    }
    // Past timestamp + window the timestamp check refuses the request anyway; a minute more covers clock jitter
    // between instances sharing the table.
    const inserted = await this.db.query(
      `INSERT INTO nonces (scope, nonce, expires_at) VALUES ($1, $2, to_timestamp($3))
       ON CONFLICT DO NOTHING`,
      [scope, nonce, timestamp + SIGNATURE_WINDOW_SECONDS + 60],
    );
    return inserted.rowCount === 1;
  }
}
