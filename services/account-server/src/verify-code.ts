/** Message 7 received (clause 8.2.4): a message server synchronises a device's new verification code. */
import { hashPassword } from '@irsp/credentials';
import type { AccountServerContext } from './context.js';
import type { AutonomousSystemEntry } from './directory.js';

/** 200; 422 when no such device; 403 when the device belongs to another AS than the caller's. */
export async function storeVerifyCode(
  ctx: AccountServerContext,
  caller: AutonomousSystemEntry,
  deviceLocal: string,
  code: string,
): Promise<200 | 403 | 422> {
  const found = await ctx.db.query<{ domain: string }>(
    `SELECT domain FROM accounts WHERE local_part = $1 AND kind = 'device' AND state = 'active'`,
    [deviceLocal],
  );
  const device = found.rows[0];
  if (!device) return 422;
  if (device.domain !== caller.domain) return 403;
  await ctx.db.query(`UPDATE accounts SET verify_code_hash = $2, updated_at = now() WHERE local_part = $1`, [
    deviceLocal,
    code ? await hashPassword(code) : null,
  ]);
  return 200;
}
