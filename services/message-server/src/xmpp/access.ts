/**
 * Device access rights (14543-5-8 §9). The owner of a device is a user bound to it: the first user to bind it (with
 * the verification code or with the device's approval), or whom the owner — or the device itself, e.g. after its
 * owner released it — hands it to. The owner grants or withdraws,
 * per related user, the right to send the device commands; the owner always has it. A user who is not the owner and
 * has no grant may still see the device online and receive its reports, but not command it.
 * Users are bare JIDs; devices are local parts of this AS.
 */
import type { Db, Queryable } from '@irsp/store';

export interface DeviceAccess {
  owner: string | undefined;
  /** Related users (bare JIDs) holding the command right, the owner excluded. */
  granted: string[];
}

export class AccessRights {
  constructor(private readonly db: Db) {}

  async owner(device: string): Promise<string | undefined> {
    const r = await this.db.query<{ owner: string }>('SELECT owner FROM device_owners WHERE device = $1', [
      device,
    ]);
    return r.rows[0]?.owner;
  }

  /** Whether `user` may send `device` commands: it is the owner or holds a grant. */
  async mayCommand(device: string, user: string): Promise<boolean> {
    const r = await this.db.query(
      `SELECT 1 FROM device_owners WHERE device = $1 AND owner = $2
       UNION ALL SELECT 1 FROM access_rights WHERE device = $1 AND user_jid = $2`,
      [device, user],
    );
    return r.rowCount > 0;
  }

  async describe(device: string): Promise<DeviceAccess> {
    const granted = await this.db.query<{ user_jid: string }>(
      'SELECT user_jid FROM access_rights WHERE device = $1 ORDER BY user_jid',
      [device],
    );
    return { owner: await this.owner(device), granted: granted.rows.map((row) => row.user_jid) };
  }

  /**
   * Changes by the owner (or the device itself), all or none: grants, withdrawals and at most one hand-over to
   * another related user (checked by the caller). False when the owner is no longer `owner` (undefined: none),
   * i.e. a concurrent change won.
   */
  async change(
    device: string,
    owner: string | undefined,
    change: { grant: string[]; revoke: string[]; newOwner: string | undefined },
  ): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const current = await tx.query<{ owner: string }>(
        'SELECT owner FROM device_owners WHERE device = $1 FOR UPDATE',
        [device],
      );
      if (current.rows[0]?.owner !== owner) return false;
      const effectiveOwner = change.newOwner ?? owner;
      for (const user of change.revoke)
        await tx.query('DELETE FROM access_rights WHERE device = $1 AND user_jid = $2', [device, user]);
      for (const user of change.grant) {
        if (user === effectiveOwner) continue;
        await tx.query(
          'INSERT INTO access_rights (device, user_jid) VALUES ($1, $2) ON CONFLICT DO NOTHING',
          [device, user],
        );
      }
      if (change.newOwner !== undefined && change.newOwner !== owner) {
        await tx.query(
          `INSERT INTO device_owners (device, owner) VALUES ($1, $2)
           ON CONFLICT (device) DO UPDATE SET owner = $2, since = now()`,
          [device, change.newOwner],
        );
        // The new owner's right is implied; a previous owner keeps commanding the device as a granted user.
        await tx.query('DELETE FROM access_rights WHERE device = $1 AND user_jid = $2', [
          device,
          change.newOwner,
        ]);
        if (owner !== undefined)
          await tx.query(
            'INSERT INTO access_rights (device, user_jid) VALUES ($1, $2) ON CONFLICT DO NOTHING',
            [device, owner],
          );
      }
      return true;
    });
  }
}

/** A user was bound to a device (in the binding's transaction): it becomes the owner if the device has none. */
export async function userBound(tx: Queryable, device: string, user: string): Promise<void> {
  await tx.query(
    'INSERT INTO device_owners (device, owner) VALUES ($1, $2) ON CONFLICT (device) DO NOTHING',
    [device, user],
  );
}

/** A binding was released (in the release's transaction): the user's right goes, and its ownership if it had it. */
export async function userReleased(tx: Queryable, device: string, user: string): Promise<void> {
  await tx.query('DELETE FROM access_rights WHERE device = $1 AND user_jid = $2', [device, user]);
  await tx.query('DELETE FROM device_owners WHERE device = $1 AND owner = $2', [device, user]);
}
