/**
 * The accounts of this AS as Messages 1–6 (clause 8.2) change them. Each function answers with the status
 * of Table 1, 2 or 3; the route only translates parameters.
 */
import { scramCredential, hashPassword } from '@irsp/credentials';
import type { Extras, IdKind } from '@irsp/protocol';
import { isUniqueViolation, type Db } from '@irsp/store';
import type { CredentialCache } from './credential-cache.js';
import { NO_SHARE_KEY, deriveShareKey } from './osap/share-key.js';

export interface DeviceInfo {
  verifycode?: string | undefined;
  type?: string | undefined;
  vendor?: string | undefined;
  model?: string | undefined;
}

async function credentials(password: string) {
  const [sha1, sha256] = await Promise.all([
    scramCredential(password, 'sha1'),
    scramCredential(password, 'sha256'),
  ]);
  return { sha1: JSON.stringify(sha1), sha256: JSON.stringify(sha256) };
}

/** An empty verification code means the device has none. */
async function verifyCodeHash(code: string | undefined): Promise<string | null> {
  return code ? hashPassword(code) : null;
}

/** Messages 1 and 2: 200, or 421 when the local part exists in this AS. */
export async function createAccount(
  db: Db,
  kind: IdKind,
  local: string,
  password: string,
  info: DeviceInfo = {},
  extra: Extras = {},
  shareKeyIterations?: number,
): Promise<200 | 421> {
  const scram = await credentials(password);
  const share =
    kind === 'device' ? await deriveShareKey(local, info.verifycode, shareKeyIterations) : NO_SHARE_KEY;
  try {
    await db.query(
      `INSERT INTO accounts (local_part, kind, scram_sha1, scram_sha256, verify_code_hash, device_type, vendor, model, extra,
                             osap_share_key, osap_share_key_iterations)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
      [
        local,
        kind,
        scram.sha1,
        scram.sha256,
        await verifyCodeHash(info.verifycode),
        info.type ?? null,
        info.vendor ?? null,
        info.model ?? null,
        JSON.stringify(extra),
        share.key,
        share.iterations,
      ],
    );
    return 200;
  } catch (error) {
    if (isUniqueViolation(error)) return 421;
    throw error;
  }
}

/**
 * Messages 3 and 4: the password is always replaced; optional device information and additional parameters
 * are replaced when present and kept when absent (an empty verifycode clears the code). A new code gives a new
 * OSAP share key and revokes the device's DevID: what was authenticated with the old code no longer holds.
 */
export async function modifyAccount(
  db: Db,
  cache: CredentialCache,
  kind: IdKind,
  local: string,
  password: string,
  info: DeviceInfo = {},
  extra: Extras = {},
  shareKeyIterations?: number,
): Promise<200 | 422> {
  const scram = await credentials(password);
  const codeGiven = info.verifycode !== undefined;
  const share =
    kind === 'device' ? await deriveShareKey(local, info.verifycode, shareKeyIterations) : NO_SHARE_KEY;
  const result = await db.query<{ n: number }>(
    `WITH updated AS (
       UPDATE accounts SET scram_sha1 = $3, scram_sha256 = $4,
           verify_code_hash = CASE WHEN $5 THEN $6 ELSE verify_code_hash END,
           osap_share_key = CASE WHEN $5 THEN $11 ELSE osap_share_key END,
           osap_share_key_iterations = CASE WHEN $5 THEN $12 ELSE osap_share_key_iterations END,
           device_type = COALESCE($7, device_type), vendor = COALESCE($8, vendor), model = COALESCE($9, model),
           extra = extra || $10::jsonb, updated_at = now()
         WHERE local_part = $1 AND kind = $2 RETURNING local_part),
     revoked AS (DELETE FROM osap_devices WHERE $5 AND local_part IN (SELECT local_part FROM updated))
     SELECT count(*)::int AS n FROM updated`,
    [
      local,
      kind,
      scram.sha1,
      scram.sha256,
      codeGiven,
      await verifyCodeHash(info.verifycode),
      info.type ?? null,
      info.vendor ?? null,
      info.model ?? null,
      JSON.stringify(extra),
      share.key,
      share.iterations,
    ],
  );
  cache.forget(local);
  return result.rows[0]?.n === 1 ? 200 : 422;
}

/** Messages 5 and 6. */
export async function removeAccount(
  db: Db,
  cache: CredentialCache,
  kind: IdKind,
  local: string,
): Promise<200 | 422> {
  const result = await db.query('DELETE FROM accounts WHERE local_part = $1 AND kind = $2', [local, kind]);
  cache.forget(local);
  return result.rowCount === 1 ? 200 : 422;
}
