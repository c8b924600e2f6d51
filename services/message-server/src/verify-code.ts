/**
 * Device verification code reset (14543-5-9 clause 8.2.4, 14543-5-8 §10.5): the message server stores the new
 * code and synchronises it to the account server with Message 7. The change and the Message 7 to send are
 * written in one transaction, so the account server hears of every reset even across a restart. The new code
 * gives a new OSAP share key and revokes the device's DevID (decision 0020).
 */
import { hashPassword } from '@irsp/credentials';
import { message7 } from '@irsp/protocol';
import type { Db } from '@irsp/store';
import { deriveShareKey } from './osap/share-key.js';
import { enqueue, type Outbox } from './outbox.js';

export const ACCOUNT_SERVER_TARGET = 'account-server';

/** Resets the code of a device of this AS (empty = no code); 422 when the device does not exist here. */
export async function resetVerifyCode(
  db: Db,
  outbox: Outbox,
  deviceLocal: string,
  code: string,
  shareKeyIterations?: number,
): Promise<200 | 422> {
  const hash = code ? await hashPassword(code) : null;
  const share = await deriveShareKey(deviceLocal, code, shareKeyIterations);
  const found = await db.transaction(async (tx) => {
    const updated = await tx.query(
      `UPDATE accounts SET verify_code_hash = $2, osap_share_key = $3, osap_share_key_iterations = $4,
              updated_at = now()
        WHERE local_part = $1 AND kind = 'device'`,
      [deviceLocal, hash, share.key, share.iterations],
    );
    if (updated.rowCount !== 1) return false;
    await tx.query('DELETE FROM osap_devices WHERE local_part = $1', [deviceLocal]);
    await enqueue(tx, {
      target: ACCOUNT_SERVER_TARGET,
      operation: message7.name,
      orderingKey: deviceLocal,
      params: { deviceid: deviceLocal, verifycode: code },
    });
    return true;
  });
  if (!found) return 422;
  outbox.kick();
  return 200;
}
