/**
 * What gateways tell the RAS (Messages 9–11): who owns them, whether they are online, what a scan heard, and the
 * lock's answer to a frame — which finishes the request that sent it (requests.ts). Anything a gateway sends that
 * does not fit is logged and dropped: a gateway cannot make the RAS stop serving, nor answer for another gateway
 * (an answer must come from the gateway the frame went to), nor forge a lock's answer (it must open under the
 * lock's key and echo the frame's counter: a tampered answer ends its request with `5004`).
 */
import {
  STATUS,
  openFrame,
  parseFromGateway,
  type FromGateway,
  type Frame,
  type StatusName,
} from '@irsp/smartlock';
import type { Queryable } from '@irsp/store';
import type { ApplicationContext } from '../../application.js';
import { Replies } from './replies.js';
import { fullUserId, iso, type PendingOperation, type Requests } from './requests.js';
import type { ThirdParties } from './third-parties.js';

interface Pending {
  id: string;
  request_id: string;
  userid: string;
  operation: PendingOperation | 'lockDiscover';
  lock_id: string | null;
  gateway: string;
  counter: string | null;
  detail: Record<string, string>;
  /** The lock's key (null for a scan, or a lock whose record is gone). */
  key: Buffer | null;
}

/** Below this the owner is told the lock's battery is low. */
const BATTERY_LOW = 20;

export class Answers {
  private readonly replies: Replies;

  constructor(
    private readonly ctx: ApplicationContext,
    private readonly requests: Requests,
    private readonly thirdParties: ThirdParties,
  ) {
    this.replies = new Replies(ctx);
  }

  /** Message 10 or 11 for a device: a gateway's owner hears it go on or off line. */
  async status(tx: Queryable, deviceid: string, online: boolean): Promise<void> {
    // Only gateways (devices that said hello) are tracked; Messages 10/11 come for every device of the AS.
    const row = await tx.query<{ owner: string | null }>(
      'UPDATE smartlock_gateways SET online = $2, updated_at = now() WHERE deviceid = $1 RETURNING owner',
      [deviceid, online],
    );
    const owner = row.rows[0]?.owner;
    if (owner)
      await this.replies.event(tx, owner, {
        event: online ? 'gatewayOnline' : 'gatewayOffline',
        gatewayId: deviceid,
        at: iso(new Date()),
      });
  }

  /** Message 9 from a device. */
  async fromGateway(tx: Queryable, deviceid: string, data: string): Promise<void> {
    const parsed = parseFromGateway(data);
    if (!parsed.ok) {
      this.ctx.logger.warn({ gateway: deviceid, detail: parsed.error.detail }, 'gateway message dropped');
      return;
    }
    const message = parsed.value;
    if (message.type === 'hello') {
      const owner = message.owner === null ? null : fullUserId(message.owner, this.ctx.domain);
      await tx.query(
        `INSERT INTO smartlock_gateways (deviceid, owner, online) VALUES ($1, $2, true)
         ON CONFLICT (deviceid) DO UPDATE SET owner = EXCLUDED.owner, online = true, updated_at = now()`,
        [deviceid, owner],
      );
      return;
    }
    const pending = await this.take(tx, deviceid, message.requestId);
    if (!pending) {
      this.ctx.logger.warn(
        { gateway: deviceid, requestId: message.requestId },
        'gateway answer to nothing waiting',
      );
      return;
    }
    if (message.type === 'scanResult') return this.scanned(tx, pending, message);
    if (message.lockId !== pending.lock_id) return this.untrusted(tx, pending, 'answer for another lock');
    if (message.type === 'unreachable') return this.finish(tx, pending, STATUS.lockUnreachable.code);
    if (pending.key === null) return this.untrusted(tx, pending, 'the lock has no factory record');
    const opened = openFrame(pending.key, Buffer.from(message.frame, 'base64'));
    if (!opened.ok) return this.untrusted(tx, pending, `lock answer refused: ${opened.error.kind}`);
    const frame = opened.value;
    if (!frame.type.endsWith('Response') || String(frame.counter) !== pending.counter)
      return this.untrusted(tx, pending, 'lock answer does not answer the frame sent');
    return this.finish(tx, pending, (frame as { status: number }).status, frame);
  }

  /** What waited too long: the user hears `commandTimeout` (the lock refuses the frame itself once it is late). */
  async expire(tx: Queryable): Promise<number> {
    const expired = await tx.query<Pending>(
      'DELETE FROM smartlock_pending WHERE wait_until < now() RETURNING *, NULL::bytea AS key',
    );
    for (const pending of expired.rows) await this.finish(tx, pending, STATUS.commandTimeout.code);
    return expired.rows.length;
  }

  /** The pending row the gateway's `p<id>` names, taken, when it went to that gateway. */
  private async take(tx: Queryable, gateway: string, requestId: string): Promise<Pending | undefined> {
    const id = /^p(\d{1,18})$/.exec(requestId)?.[1];
    if (id === undefined) return undefined;
    const row = await tx.query<Pending>(
      `WITH taken AS (DELETE FROM smartlock_pending WHERE id = $1 AND gateway = $2 RETURNING *)
       SELECT taken.*, f.key FROM taken LEFT JOIN smartlock_factory_records f USING (lock_id)`,
      [id, gateway],
    );
    return row.rows[0];
  }

  /**
   * A lock's answer that cannot be believed (tampered on the way, or not the answer to this frame): the request
   * ends with `5004 integrityCheckFailed` — what the lock did is unknown, and the user is told so at once.
   */
  private async untrusted(tx: Queryable, pending: Pending, why: string): Promise<void> {
    this.ctx.logger.warn(
      { gateway: pending.gateway, requestId: `p${pending.id}` },
      `gateway answer refused: ${why}`,
    );
    await this.finish(tx, pending, STATUS.integrityCheckFailed.code);
  }

  private async scanned(
    tx: Queryable,
    pending: Pending,
    message: Extract<FromGateway, { type: 'scanResult' }>,
  ): Promise<void> {
    const ids = message.locks.map((l) => l.lockId);
    const registered = await tx.query<{ lock_id: string }>(
      'SELECT lock_id FROM smartlock_locks WHERE lock_id = ANY($1::text[])',
      [ids],
    );
    const known = new Set(registered.rows.map((r) => r.lock_id));
    await this.replies.respond(tx, pending.userid, 'lockDiscover', pending.request_id, 'ok', {
      gatewayId: pending.gateway,
      locks: message.locks.map((l) => ({ ...l, registered: known.has(l.lockId) })),
    });
  }

  /** The request behind `pending` ends with `code` (Table 1), the lock's answer `frame` when it gave one. */
  private async finish(tx: Queryable, pending: Pending, code: number, frame?: Frame): Promise<void> {
    const ok = code === STATUS.ok.code;
    const lockId = pending.lock_id!;
    const user = pending.userid;
    const now = iso(new Date());
    switch (pending.operation) {
      case 'lockDiscover':
        return this.replies.respondCode(tx, user, 'lockDiscover', pending.request_id, code);
      case 'lockRegister': {
        await this.requests.audit(tx, lockId, user, 'lockRegister', code);
        if (!ok) return this.replies.respondCode(tx, user, 'lockRegister', pending.request_id, code);
        const inserted = await tx.query<{ registered_at: Date }>(
          `INSERT INTO smartlock_locks (lock_id, owner, gateway, name) VALUES ($1, $2, $3, $4)
           ON CONFLICT (lock_id) DO NOTHING RETURNING registered_at`,
          [lockId, user, pending.gateway, pending.detail.name],
        );
        await tx.query('DELETE FROM smartlock_claims WHERE lock_id = $1', [lockId]);
        if (!inserted.rows[0])
          return this.replies.respond(tx, user, 'lockRegister', pending.request_id, 'lockAlreadyRegistered');
        await this.replies.respond(tx, user, 'lockRegister', pending.request_id, 'ok', {
          lockId,
          gatewayId: pending.gateway,
          name: pending.detail.name!,
          registeredAt: iso(inserted.rows[0].registered_at),
        });
        return this.replies.event(tx, user, {
          event: 'lockRegistered',
          lockId,
          gatewayId: pending.gateway,
          at: now,
        });
      }
      case 'lockControl': {
        const action = pending.detail.action as 'lock' | 'unlock';
        const answer = frame?.type === 'lockOperationResponse' ? frame : undefined;
        // The audit entry, the bolt and battery the lock reported, and who hears of it, in one statement: it runs
        // at every unlock.
        const lock = (
          await tx.query<{ owner: string | null; third_parties: string[] }>(
            `WITH audit AS (
               INSERT INTO smartlock_audit (lock_id, userid, action, status) VALUES ($1, $2, $3, $4)),
             moved AS (
               UPDATE smartlock_locks SET bolt = $5, battery = $6 WHERE lock_id = $1 AND $5::text IS NOT NULL)
             SELECT (SELECT owner FROM smartlock_locks WHERE lock_id = $1) AS owner,
                    ARRAY(SELECT third_party FROM smartlock_third_party_links WHERE lock_id = $1
                           ORDER BY third_party) AS third_parties`,
            [lockId, user, action, code, answer?.bolt ?? null, answer?.battery ?? null],
          )
        ).rows[0]!;
        const owner = lock.owner ?? undefined;
        if (answer) {
          // The owner sees the bolt move live when a grantee moved it (the actor has its commandResult).
          if (owner !== undefined && owner !== user)
            await this.replies.event(tx, owner, {
              event: 'lockState',
              lockId,
              state: answer.bolt,
              battery: answer.battery,
              at: now,
            });
          if (answer.battery < BATTERY_LOW) {
            const low = { event: 'batteryLow', lockId, battery: answer.battery, at: now } as const;
            if (owner !== undefined) {
              await this.replies.event(tx, owner, low);
              await this.thirdParties.tellLinked(tx, lock.third_parties, owner, low);
            }
          }
        }
        if (owner !== undefined)
          await this.thirdParties.tellLinked(tx, lock.third_parties, owner, {
            event: 'lockOperated',
            lockId,
            userId: user,
            action,
            status: code as 1000,
            ...(answer ? { state: answer.bolt } : {}),
            at: now,
          });
        return this.replies.event(tx, user, {
          event: 'commandResult',
          lockId,
          requestId: pending.request_id,
          action,
          status: code as 1000,
          ...(answer ? { state: answer.bolt, battery: answer.battery } : {}),
          at: now,
        });
      }
      case 'grantAccess': {
        // `via`: a TPSP's guest grant in the owner's (`user`'s) name; its outcome goes to the TPSP.
        const { grantee, from, until, via } = pending.detail as {
          grantee: string;
          from: string;
          until: string;
          via?: string;
        };
        await this.requests.audit(tx, lockId, user, 'grantAccess', code, via);
        const answerRequest = () =>
          via === undefined
            ? this.replies.respondCode(tx, user, 'grantAccess', pending.request_id, code)
            : this.thirdParties.result(tx, via, user, pending.request_id, 'guestGrant', code);
        if (!ok) return answerRequest();
        await tx.query(
          `INSERT INTO smartlock_grants (lock_id, grantee, valid_from, valid_until, granted_by)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (lock_id, grantee) DO UPDATE SET valid_from = EXCLUDED.valid_from,
                                                        valid_until = EXCLUDED.valid_until,
                                                        granted_by = EXCLUDED.granted_by,
                                                        erase_sent_at = NULL, erased_at = NULL`,
          [lockId, grantee, from, until, via ?? null],
        );
        if (via === undefined)
          await this.replies.respond(tx, user, 'grantAccess', pending.request_id, 'ok', {
            lockId,
            grantee,
            from,
            until,
          });
        else await answerRequest();
        const granted = { event: 'accessGranted', lockId, grantee, from, until, at: now } as const;
        await this.replies.event(tx, grantee, granted);
        // The owner hears of a door opened to someone in their name.
        if (via !== undefined) await this.replies.event(tx, user, granted);
        return;
      }
      case 'lockRemove': {
        await this.requests.audit(tx, lockId, user, 'lockRemove', code);
        if (!ok) return this.replies.respondCode(tx, user, 'lockRemove', pending.request_id, code);
        await this.thirdParties.tell(tx, lockId, { event: 'lockUnlinked', lockId, owner: user, at: now });
        const grantees = await tx.query<{ grantee: string }>(
          'DELETE FROM smartlock_grants WHERE lock_id = $1 RETURNING grantee',
          [lockId],
        );
        await tx.query('DELETE FROM smartlock_locks WHERE lock_id = $1', [lockId]);
        for (const { grantee } of grantees.rows)
          await this.replies.event(tx, grantee, { event: 'accessRevoked', lockId, grantee, at: now });
        await this.replies.respond(tx, user, 'lockRemove', pending.request_id, 'ok', {
          lockId,
          removedAt: now,
        });
        return this.replies.event(tx, user, { event: 'lockRemoved', lockId, at: now });
      }
      case 'eraseUser': {
        if (!ok) {
          this.ctx.logger.warn(
            { lockId, status: code, name: statusName(code) },
            'a user account ID was not erased from the lock',
          );
          return;
        }
        // An ended grant is done with once its lock confirms (a revoked one has no row left).
        const grantee = pending.detail.grantee!;
        const ended = await tx.query(
          `UPDATE smartlock_grants SET erased_at = now()
            WHERE lock_id = $1 AND grantee = $2 AND valid_until <= now() AND erased_at IS NULL`,
          [lockId, grantee],
        );
        if (ended.rowCount > 0) await this.requests.audit(tx, lockId, grantee, 'grantEnded', code);
        return;
      }
    }
  }
}

const statusName = (code: number): StatusName | undefined =>
  (Object.keys(STATUS) as StatusName[]).find((name) => STATUS[name].code === code);
