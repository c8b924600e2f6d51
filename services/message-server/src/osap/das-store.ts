/**
 * What the DAS reads and writes in the message server's database (migrations 010–011, decision 0022): a DevID's
 * device account and session key, and the CONNECT counter that makes a recorded CONNECT useless.
 */
import type { Db } from '@irsp/store';

export interface DasDevice {
  /** The device account's local part, `#serial`. */
  local: string;
  sessionKey: Uint8Array;
}

export class DasStore {
  constructor(private readonly db: Db) {}

  async device(devId: string): Promise<DasDevice | undefined> {
    const r = await this.db.query<{ local_part: string; session_key: Uint8Array }>(
      'SELECT local_part, session_key FROM osap_devices WHERE dev_id = $1',
      [devId],
    );
    const row = r.rows[0];
    return row && { local: row.local_part, sessionKey: new Uint8Array(row.session_key) };
  }

  /**
   * Takes `counter` as the DevID's last CONNECT counter if it is above the stored one and the session key is still
   * `sessionKey` (a re-authentication meanwhile makes the proof stale); false otherwise. One statement, so two DAS
   * instances never both accept one CONNECT.
   */
  async claim(devId: string, sessionKey: Uint8Array, counter: number): Promise<boolean> {
    const r = await this.db.query(
      `UPDATE osap_devices SET das_counter = $3
        WHERE dev_id = $1 AND session_key = $2 AND das_counter < $3`,
      [devId, Buffer.from(sessionKey), counter],
    );
    return r.rowCount === 1;
  }

  /** The counter of the next payload to the device under `sessionKey`; undefined when that key is no longer current. */
  async nextDownCounter(devId: string, sessionKey: Uint8Array): Promise<number | undefined> {
    const r = await this.db.query<{ das_down_counter: string | number }>(
      `UPDATE osap_devices SET das_down_counter = das_down_counter + 1
        WHERE dev_id = $1 AND session_key = $2 AND das_down_counter < 4294967295
        RETURNING das_down_counter`,
      [devId, Buffer.from(sessionKey)],
    );
    const row = r.rows[0];
    return row && Number(row.das_down_counter);
  }
}
