/**
 * What the LBS keeps in the message server's database (migration 010, decision 0020): it reads a device's share
 * key, and issues, finds and refreshes its DevID with the master and session keys.
 */
import type { Db } from '@irsp/store';
import { deviceLocalOf } from './share-key.js';

export interface IssuedDevice {
  /** The device account's local part, `#serial`. */
  local: string;
  masterKey: Uint8Array;
}

export class LbsStore {
  constructor(
    private readonly db: Db,
    /** The rounds share keys must have been derived with to be used. */
    private readonly iterations: number,
  ) {}

  /** The share key of the device with this serial number; undefined when it has none usable. */
  async shareKey(serialNumber: string): Promise<Uint8Array | undefined> {
    const r = await this.db.query<{ osap_share_key: Uint8Array }>(
      `SELECT osap_share_key FROM accounts
        WHERE local_part = $1 AND kind = 'device' AND osap_share_key IS NOT NULL AND osap_share_key_iterations = $2`,
      [deviceLocalOf(serialNumber), this.iterations],
    );
    const key = r.rows[0]?.osap_share_key;
    return key === undefined ? undefined : new Uint8Array(key);
  }

  /** Keeps a DevID the device confirmed, replacing any earlier one; false when the account went away meanwhile. */
  async issue(
    serialNumber: string,
    devId: string,
    masterKey: Uint8Array,
    sessionKey: Uint8Array,
  ): Promise<boolean> {
    const r = await this.db.query(
      `INSERT INTO osap_devices (dev_id, local_part, master_key, session_key)
         SELECT $1, local_part, $3, $4 FROM accounts WHERE local_part = $2 AND kind = 'device'
       ON CONFLICT (local_part) DO UPDATE
         SET dev_id = EXCLUDED.dev_id, master_key = EXCLUDED.master_key, session_key = EXCLUDED.session_key,
             das_counter = 0, das_down_counter = 0, issued_at = now(), refreshed_at = now()`,
      [devId, deviceLocalOf(serialNumber), Buffer.from(masterKey), Buffer.from(sessionKey)],
    );
    return r.rowCount === 1;
  }

  async device(devId: string): Promise<IssuedDevice | undefined> {
    const r = await this.db.query<{ local_part: string; master_key: Uint8Array }>(
      'SELECT local_part, master_key FROM osap_devices WHERE dev_id = $1',
      [devId],
    );
    const row = r.rows[0];
    return row && { local: row.local_part, masterKey: new Uint8Array(row.master_key) };
  }

  /** Re-authentication: the DevID's new session key; false when the DevID was revoked meanwhile. */
  async refresh(devId: string, sessionKey: Uint8Array): Promise<boolean> {
    const r = await this.db.query(
      'UPDATE osap_devices SET session_key = $2, das_counter = 0, das_down_counter = 0, refreshed_at = now() WHERE dev_id = $1',
      [devId, Buffer.from(sessionKey)],
    );
    return r.rowCount === 1;
  }
}
