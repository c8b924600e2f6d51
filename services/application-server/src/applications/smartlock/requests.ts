/**
 * The RAS's side of clause 7 (docs/smartlock.md): a RAC's request arrives as the `data` of Message 8, from the user
 * the message server authenticated (never from a field of the request), and is answered with Message 12. What
 * needs the lock is sent to its gateway as a sealed frame (Message 13) and answered when the lock's frame comes back
 * (answers.ts), or when waiting for it ends (commandTimeout).
 */
import { hashPassword, verifyPassword } from '@irsp/credentials';
import {
  MAX_LISTED,
  STATUS,
  buildToGateway,
  parseRequest,
  readVersionedObject,
  requestIdSchema,
  sealFrame,
  statusByCode,
  unixSeconds,
  type FrameInput,
  type RequestOf,
  type SmartlockRequest,
  type StatusName,
} from '@irsp/smartlock';
import type { Queryable } from '@irsp/store';
import type { ApplicationContext } from '../../application.js';
import { Replies } from './replies.js';
import type { ThirdParties } from './third-parties.js';

export interface SmartlockOptions {
  /** How long a PIN confirmation (userAuthenticate) lets sensitive operations through. */
  stepUpMs: number;
  /** Wrong PINs or activation codes a user may make per hour. */
  maxFailuresPerHour: number;
  /** How long a proven activation code lets its user register the lock. */
  claimMs: number;
  /** The deadline of a frame the RAS sends on its own account (registration, grants, erasure). */
  frameMs: number;
  /** How long a frame's answer is waited for beyond its deadline (the lock refuses it once late). */
  graceMs: number;
  /** How long an unconfirmed erasure of an ended grant waits before it is sent again. */
  eraseRetryMs: number;
}

/** Ended grants erased per sweep at most, so that one sweep stays a short transaction. */
const ERASE_BATCH = 50;

export const DEFAULT_SMARTLOCK_OPTIONS: SmartlockOptions = {
  stepUpMs: 15 * 60_000,
  maxFailuresPerHour: 5,
  claimMs: 10 * 60_000,
  frameMs: 30_000,
  graceMs: 2_000,
  eraseRetryMs: 5 * 60_000,
};

interface User {
  userid: string;
  step_up_until: Date | null;
  failures: number;
  failures_since: Date | null;
}

export interface LockRow {
  lock_id: string;
  owner: string;
  gateway: string;
}

/** What a frame is sent for; answers.ts finishes each. */
export type PendingOperation = 'lockRegister' | 'lockControl' | 'grantAccess' | 'lockRemove' | 'eraseUser';

export class Requests {
  private readonly replies: Replies;

  constructor(
    private readonly ctx: ApplicationContext,
    private readonly options: SmartlockOptions,
    private readonly thirdParties: ThirdParties,
  ) {
    this.replies = new Replies(ctx);
  }

  /** Message 8 from `userid` (a local part of this AS). */
  async handle(tx: Queryable, userid: string, data: string): Promise<void> {
    const me = `${userid}@${this.ctx.domain}`;
    const parsed = parseRequest(data);
    if (!parsed.ok) {
      const name = statusByCode(parsed.error.status)?.name ?? 'malformed';
      this.ctx.logger.info({ userid, detail: parsed.error.detail }, 'smart-lock request refused');
      return this.replies.respond(tx, me, 'userRegister', readableId(data), name);
    }
    const request = parsed.value;
    if (request.operation === 'userRegister') return this.userRegister(tx, me, request);
    const user = await one<User>(tx, 'SELECT * FROM smartlock_users WHERE userid = $1 FOR UPDATE', [me]);
    if (!user) return this.refuse(tx, me, request, 'userNotRegistered');
    switch (request.operation) {
      case 'userAuthenticate':
        return this.userAuthenticate(tx, me, user, request);
      case 'lockDiscover':
        return this.lockDiscover(tx, me, request);
      case 'lockAuthenticate':
        return this.lockAuthenticate(tx, me, user, request);
      case 'auditLog':
        return this.auditLog(tx, me, request);
      case 'lockList':
        return this.lockList(tx, me, request);
    }
    // The rest changes who may open a door: the PIN must have been confirmed lately (7.2).
    if (!user.step_up_until || user.step_up_until.getTime() <= Date.now())
      return this.refuse(tx, me, request, 'unauthorized');
    switch (request.operation) {
      case 'lockRegister':
        return this.lockRegister(tx, me, request);
      case 'lockRemove':
        return this.lockRemove(tx, me, request);
      case 'lockControl':
        return this.lockControl(tx, me, request);
      case 'grantAccess':
        return this.grantAccess(tx, me, request);
      case 'revokeAccess':
        return this.revokeAccess(tx, me, request);
      case 'thirdPartyLink':
        return this.thirdPartyLink(tx, me, request);
      case 'thirdPartyUnlink':
        return this.thirdPartyUnlink(tx, me, request);
    }
  }

  private refuse(tx: Queryable, me: string, request: SmartlockRequest, status: StatusName): Promise<void> {
    this.ctx.logger.info({ user: me, operation: request.operation, status }, 'smart-lock request refused');
    return this.replies.respond(tx, me, request.operation, request.id, status);
  }

  // --- 7.1, 7.2 -------------------------------------------------------------------------------------------------------

  private async userRegister(tx: Queryable, me: string, request: RequestOf<'userRegister'>): Promise<void> {
    const inserted = await tx.query<{ registered_at: Date }>(
      `INSERT INTO smartlock_users (userid, display_name, pin_hash) VALUES ($1, $2, $3)
       ON CONFLICT (userid) DO NOTHING RETURNING registered_at`,
      [me, request.body.displayName, await hashPassword(request.body.pin)],
    );
    const row = inserted.rows[0];
    if (!row) return this.refuse(tx, me, request, 'userAlreadyRegistered');
    return this.replies.respond(tx, me, 'userRegister', request.id, 'ok', {
      userId: me,
      registeredAt: iso(row.registered_at),
    });
  }

  private async userAuthenticate(
    tx: Queryable,
    me: string,
    user: User,
    request: RequestOf<'userAuthenticate'>,
  ): Promise<void> {
    if (this.throttled(user)) return this.refuse(tx, me, request, 'rateLimited');
    const hash = await one<{ pin_hash: string }>(
      tx,
      'SELECT pin_hash FROM smartlock_users WHERE userid = $1',
      [me],
    );
    if (!(await verifyPassword(request.body.pin, hash!.pin_hash))) {
      await this.failed(tx, user);
      return this.refuse(tx, me, request, 'authenticationFailed');
    }
    const until = new Date(Date.now() + this.options.stepUpMs);
    await tx.query('UPDATE smartlock_users SET step_up_until = $2, failures = 0 WHERE userid = $1', [
      me,
      until,
    ]);
    return this.replies.respond(tx, me, 'userAuthenticate', request.id, 'ok', {
      userId: me,
      validUntil: iso(until),
    });
  }

  private throttled(user: User): boolean {
    const fresh = user.failures_since && Date.now() - user.failures_since.getTime() < 3_600_000;
    return Boolean(fresh) && user.failures >= this.options.maxFailuresPerHour;
  }

  private async failed(tx: Queryable, user: User): Promise<void> {
    await tx.query(
      `UPDATE smartlock_users
          SET failures = CASE WHEN failures_since > now() - interval '1 hour' THEN failures + 1 ELSE 1 END,
              failures_since = CASE WHEN failures_since > now() - interval '1 hour' THEN failures_since ELSE now() END
        WHERE userid = $1`,
      [user.userid],
    );
  }

  // --- 7.3, 7.4, 7.5 --------------------------------------------------------------------------------------------------

  /** The gateway, when `me` owns it; the status to refuse with otherwise. */
  private async ownGateway(
    tx: Queryable,
    me: string,
    gateway: string,
  ): Promise<{ online: boolean } | 'forbidden'> {
    const row = await one<{ owner: string | null; online: boolean }>(
      tx,
      'SELECT owner, online FROM smartlock_gateways WHERE deviceid = $1',
      [gateway],
    );
    return row?.owner === me ? { online: row.online } : 'forbidden';
  }

  private async lockDiscover(tx: Queryable, me: string, request: RequestOf<'lockDiscover'>): Promise<void> {
    const gateway = await this.ownGateway(tx, me, request.body.gatewayId);
    if (gateway === 'forbidden') return this.refuse(tx, me, request, 'forbidden');
    if (!gateway.online) return this.refuse(tx, me, request, 'gatewayOffline');
    const pending = await this.pendingScan(
      tx,
      me,
      request.id,
      request.body.gatewayId,
      request.body.seconds * 1000 + this.options.frameMs,
    );
    await this.toGateway(
      tx,
      request.body.gatewayId,
      buildToGateway({ type: 'scan', requestId: pending, seconds: request.body.seconds }),
    );
  }

  private async lockAuthenticate(
    tx: Queryable,
    me: string,
    user: User,
    request: RequestOf<'lockAuthenticate'>,
  ): Promise<void> {
    const { gatewayId, lockId, activationCode } = request.body;
    if (this.throttled(user)) return this.refuse(tx, me, request, 'rateLimited');
    if ((await this.ownGateway(tx, me, gatewayId)) === 'forbidden')
      return this.refuse(tx, me, request, 'forbidden');
    const record = await one<{ model: string; firmware: string; activation_hash: string }>(
      tx,
      'SELECT model, firmware, activation_hash FROM smartlock_factory_records WHERE lock_id = $1',
      [lockId],
    );
    if (!record) return this.refuse(tx, me, request, 'lockNotFound');
    if (await one(tx, 'SELECT 1 FROM smartlock_locks WHERE lock_id = $1', [lockId]))
      return this.refuse(tx, me, request, 'lockAlreadyRegistered');
    if (!(await verifyPassword(activationCode, record.activation_hash))) {
      await this.failed(tx, user);
      return this.refuse(tx, me, request, 'lockAuthenticationFailed');
    }
    await tx.query(
      `INSERT INTO smartlock_claims (lock_id, userid, gateway, expires_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (lock_id, userid) DO UPDATE SET gateway = EXCLUDED.gateway, expires_at = EXCLUDED.expires_at`,
      [lockId, me, gatewayId, new Date(Date.now() + this.options.claimMs)],
    );
    return this.replies.respond(tx, me, 'lockAuthenticate', request.id, 'ok', {
      lockId,
      model: record.model,
      firmware: record.firmware,
    });
  }

  /** Figure 6: the owner's user account ID is written into the lock (Table 3); answered when the lock has it. */
  private async lockRegister(tx: Queryable, me: string, request: RequestOf<'lockRegister'>): Promise<void> {
    const { gatewayId, lockId, name } = request.body;
    const claim = await one(
      tx,
      'SELECT 1 FROM smartlock_claims WHERE lock_id = $1 AND userid = $2 AND gateway = $3 AND expires_at > now()',
      [lockId, me, gatewayId],
    );
    if (!claim) return this.refuse(tx, me, request, 'lockAuthenticationFailed');
    if (await one(tx, 'SELECT 1 FROM smartlock_locks WHERE lock_id = $1', [lockId]))
      return this.refuse(tx, me, request, 'lockAlreadyRegistered');
    const gateway = await this.ownGateway(tx, me, gatewayId);
    if (gateway === 'forbidden') return this.refuse(tx, me, request, 'forbidden');
    if (!gateway.online) return this.refuse(tx, me, request, 'gatewayOffline');
    await this.sendFrame(
      tx,
      me,
      request,
      'lockRegister',
      { lockId, gateway: gatewayId },
      { name },
      (frame) => ({
        type: 'writeUserAccountIdRequest',
        ...frame,
        mode: 'add',
        userId: me,
      }),
    );
  }

  /** Figure 12: every user account ID the lock holds is erased, the owner's last; the lock is then forgotten. */
  private async lockRemove(tx: Queryable, me: string, request: RequestOf<'lockRemove'>): Promise<void> {
    const lock = await this.ownedLock(tx, me, request);
    if (!lock) return;
    if (!(await this.gatewayOnline(tx, lock.gateway))) return this.refuse(tx, me, request, 'gatewayOffline');
    const grantees = await tx.query<{ grantee: string }>(
      'SELECT grantee FROM smartlock_grants WHERE lock_id = $1 ORDER BY grantee',
      [lock.lock_id],
    );
    for (const { grantee } of grantees.rows)
      await this.sendFrame(tx, me, request, 'eraseUser', lock, { grantee }, (frame) => ({
        type: 'writeUserAccountIdRequest',
        ...frame,
        mode: 'remove',
        userId: grantee,
      }));
    await this.sendFrame(tx, me, request, 'lockRemove', lock, {}, (frame) => ({
      type: 'writeUserAccountIdRequest',
      ...frame,
      mode: 'remove',
      userId: me,
    }));
  }

  // --- Figure 7, sharing, audit ---------------------------------------------------------------------------------------

  private async lockControl(tx: Queryable, me: string, request: RequestOf<'lockControl'>): Promise<void> {
    const { lockId, action, deadline } = request.body;
    // The lock, the user's grant (null: none) and its gateway's being online, in one statement: it runs at every
    // unlock.
    const lock = await one<LockRow & { grant_valid: boolean | null; gateway_online: boolean | null }>(
      tx,
      `SELECT l.lock_id, l.owner, l.gateway, g.online AS gateway_online,
              (SELECT valid_from <= now() AND now() < valid_until FROM smartlock_grants
                WHERE lock_id = l.lock_id AND grantee = $2) AS grant_valid
         FROM smartlock_locks l LEFT JOIN smartlock_gateways g ON g.deviceid = l.gateway
        WHERE l.lock_id = $1`,
      [lockId, me],
    );
    if (!lock) return this.refuse(tx, me, request, 'lockNotFound');
    if (lock.owner !== me) {
      if (lock.grant_valid === null) return this.audited(tx, me, request, lockId, action, 'forbidden');
      if (!lock.grant_valid) return this.audited(tx, me, request, lockId, action, 'accessExpired');
    }
    const seconds = unixSeconds(deadline);
    if (seconds < Math.floor(Date.now() / 1000))
      return this.audited(tx, me, request, lockId, action, 'commandExpired');
    if (lock.gateway_online !== true) return this.audited(tx, me, request, lockId, action, 'gatewayOffline');
    await this.sendFrame(
      tx,
      me,
      request,
      'lockControl',
      lock,
      { action },
      (frame) => ({ type: 'lockOperationRequest', ...frame, action, userId: me }),
      seconds,
    );
    return this.replies.respond(tx, me, 'lockControl', request.id, 'accepted', { lockId, action, deadline });
  }

  private async grantAccess(tx: Queryable, me: string, request: RequestOf<'grantAccess'>): Promise<void> {
    const lock = await this.ownedLock(tx, me, request);
    if (!lock) return;
    const grantee = fullUserId(request.body.grantee, this.ctx.domain);
    if (grantee === me || !(await one(tx, 'SELECT 1 FROM smartlock_users WHERE userid = $1', [grantee])))
      return this.refuse(tx, me, request, 'userNotRegistered');
    if (!(await this.gatewayOnline(tx, lock.gateway))) return this.refuse(tx, me, request, 'gatewayOffline');
    const { from, until } = request.body;
    await this.sendFrame(tx, me, request, 'grantAccess', lock, { grantee, from, until }, (frame) => ({
      type: 'writeUserAccountIdRequest',
      ...frame,
      mode: 'add',
      userId: grantee,
    }));
  }

  /** Effective at once (the RAS seals no frame for a revoked grantee); the lock forgets the ID when it can. */
  private async revokeAccess(tx: Queryable, me: string, request: RequestOf<'revokeAccess'>): Promise<void> {
    const lock = await this.ownedLock(tx, me, request);
    if (!lock) return;
    const grantee = fullUserId(request.body.grantee, this.ctx.domain);
    const removed = await tx.query('DELETE FROM smartlock_grants WHERE lock_id = $1 AND grantee = $2', [
      lock.lock_id,
      grantee,
    ]);
    if (removed.rowCount === 0) return this.refuse(tx, me, request, 'userNotRegistered');
    await this.audit(tx, lock.lock_id, me, 'revokeAccess', 'ok');
    if (await this.gatewayOnline(tx, lock.gateway))
      await this.sendFrame(tx, me, request, 'eraseUser', lock, { grantee }, (frame) => ({
        type: 'writeUserAccountIdRequest',
        ...frame,
        mode: 'remove',
        userId: grantee,
      }));
    await this.replies.event(tx, grantee, {
      event: 'accessRevoked',
      lockId: lock.lock_id,
      grantee,
      at: iso(new Date()),
    });
    return this.replies.respond(tx, me, 'revokeAccess', request.id, 'ok', { lockId: lock.lock_id, grantee });
  }

  /** 6.6: the TPSP hears the lock's events and may grant guests access to it from now on. */
  private async thirdPartyLink(
    tx: Queryable,
    me: string,
    request: RequestOf<'thirdPartyLink'>,
  ): Promise<void> {
    const lock = await this.ownedLock(tx, me, request);
    if (!lock) return;
    const { thirdParty } = request.body;
    if (!this.thirdParties.exists(thirdParty)) return this.refuse(tx, me, request, 'thirdPartyNotLinked');
    const linked = await tx.query<{ linked_at: Date }>(
      `INSERT INTO smartlock_third_party_links (lock_id, third_party) VALUES ($1, $2)
       ON CONFLICT (lock_id, third_party) DO UPDATE SET linked_at = smartlock_third_party_links.linked_at
       RETURNING linked_at`,
      [lock.lock_id, thirdParty],
    );
    await this.audit(tx, lock.lock_id, me, 'thirdPartyLink', 'ok', thirdParty);
    const at = iso(new Date());
    await this.thirdParties.tellOne(tx, thirdParty, me, {
      event: 'lockLinked',
      lockId: lock.lock_id,
      owner: me,
      at,
    });
    return this.replies.respond(tx, me, 'thirdPartyLink', request.id, 'ok', {
      lockId: lock.lock_id,
      thirdParty,
      linkedAt: iso(linked.rows[0]!.linked_at),
    });
  }

  /** The TPSP's requests for the lock are refused from now on; the grants it made run to their end. */
  private async thirdPartyUnlink(
    tx: Queryable,
    me: string,
    request: RequestOf<'thirdPartyUnlink'>,
  ): Promise<void> {
    const lock = await this.ownedLock(tx, me, request);
    if (!lock) return;
    const { thirdParty } = request.body;
    const removed = await tx.query(
      'DELETE FROM smartlock_third_party_links WHERE lock_id = $1 AND third_party = $2',
      [lock.lock_id, thirdParty],
    );
    if (removed.rowCount === 0) return this.refuse(tx, me, request, 'thirdPartyNotLinked');
    await this.audit(tx, lock.lock_id, me, 'thirdPartyUnlink', 'ok', thirdParty);
    const at = iso(new Date());
    await this.thirdParties.tellOne(tx, thirdParty, me, {
      event: 'lockUnlinked',
      lockId: lock.lock_id,
      owner: me,
      at,
    });
    return this.replies.respond(tx, me, 'thirdPartyUnlink', request.id, 'ok', {
      lockId: lock.lock_id,
      thirdParty,
    });
  }

  /** What the user's RAC shows after a login: the locks it owns with their grants, and those shared with it. */
  private async lockList(tx: Queryable, me: string, request: RequestOf<'lockList'>): Promise<void> {
    const owned = await tx.query<LockRow & { name: string; bolt: string | null; battery: number | null }>(
      `SELECT lock_id, owner, gateway, name, bolt, battery FROM smartlock_locks WHERE owner = $1
        ORDER BY registered_at, lock_id LIMIT $2`,
      [me, MAX_LISTED],
    );
    const grants = await tx.query<{ lock_id: string; grantee: string; valid_from: Date; valid_until: Date }>(
      `SELECT lock_id, grantee, valid_from, valid_until FROM smartlock_grants WHERE lock_id = ANY($1::text[])
        ORDER BY lock_id, grantee`,
      [owned.rows.map((l) => l.lock_id)],
    );
    const shared = await tx.query<{
      lock_id: string;
      name: string;
      bolt: string | null;
      battery: number | null;
      valid_from: Date;
      valid_until: Date;
    }>(
      `SELECT g.lock_id, l.name, l.bolt, l.battery, g.valid_from, g.valid_until
         FROM smartlock_grants g JOIN smartlock_locks l USING (lock_id)
        WHERE g.grantee = $1 ORDER BY g.valid_from, g.lock_id LIMIT $2`,
      [me, MAX_LISTED],
    );
    const reported = (l: { bolt: string | null; battery: number | null }) => ({
      ...(l.bolt === null ? {} : { state: l.bolt as 'locked' }),
      ...(l.battery === null ? {} : { battery: l.battery }),
    });
    const locks = [
      ...owned.rows.map((l) => ({
        lockId: l.lock_id,
        name: l.name,
        role: 'owner' as const,
        gatewayId: l.gateway,
        ...reported(l),
        grants: grants.rows
          .filter((g) => g.lock_id === l.lock_id)
          .slice(0, MAX_LISTED)
          .map((g) => ({ grantee: g.grantee, from: iso(g.valid_from), until: iso(g.valid_until) })),
      })),
      ...shared.rows.map((l) => ({
        lockId: l.lock_id,
        name: l.name,
        role: 'grantee' as const,
        from: iso(l.valid_from),
        until: iso(l.valid_until),
        ...reported(l),
      })),
    ].slice(0, MAX_LISTED);
    return this.replies.respond(tx, me, 'lockList', request.id, 'ok', { locks });
  }

  private async auditLog(tx: Queryable, me: string, request: RequestOf<'auditLog'>): Promise<void> {
    const lock = await this.ownedLock(tx, me, request);
    if (!lock) return;
    const entries = await tx.query<{
      at: Date;
      userid: string;
      action: string;
      status: number;
      via: string | null;
    }>(
      `SELECT at, userid, action, status, via FROM smartlock_audit
        WHERE lock_id = $1 AND ($2::timestamptz IS NULL OR at < $2) ORDER BY at DESC, id DESC LIMIT $3`,
      [lock.lock_id, request.body.before ?? null, request.body.limit],
    );
    return this.replies.respond(tx, me, 'auditLog', request.id, 'ok', {
      lockId: lock.lock_id,
      entries: entries.rows.map((e) => ({
        at: iso(e.at),
        userId: e.userid,
        action: e.action as 'lock',
        status: e.status as 1000,
        ...(e.via === null ? {} : { via: e.via }),
      })),
    });
  }

  // --- helpers --------------------------------------------------------------------------------------------------------

  /** The lock when `me` owns it; refused (lockNotFound or forbidden) otherwise. */
  private async ownedLock(
    tx: Queryable,
    me: string,
    request: SmartlockRequest & { body: { lockId: string } },
  ): Promise<LockRow | undefined> {
    const lock = await one<LockRow>(
      tx,
      'SELECT lock_id, owner, gateway FROM smartlock_locks WHERE lock_id = $1',
      [request.body.lockId],
    );
    if (!lock) await this.refuse(tx, me, request, 'lockNotFound');
    else if (lock.owner !== me) await this.refuse(tx, me, request, 'forbidden');
    return lock?.owner === me ? lock : undefined;
  }

  async gatewayOnline(tx: Queryable, gateway: string): Promise<boolean> {
    const row = await one<{ online: boolean }>(
      tx,
      'SELECT online FROM smartlock_gateways WHERE deviceid = $1',
      [gateway],
    );
    return row?.online === true;
  }

  /** A lock control refused before it reached the lock: in the audit log, and told to the lock's TPSPs. */
  private async audited(
    tx: Queryable,
    me: string,
    request: SmartlockRequest,
    lockId: string,
    action: 'lock' | 'unlock',
    status: StatusName,
  ): Promise<void> {
    await this.audit(tx, lockId, me, action, status);
    await this.thirdParties.tell(tx, lockId, {
      event: 'lockOperated',
      lockId,
      userId: me,
      action,
      status: STATUS[status].code,
      at: iso(new Date()),
    });
    return this.refuse(tx, me, request, status);
  }

  /**
   * Grants whose window has ended: each grantee's user account ID is erased from the lock (Table 3 remove) as at a
   * revocation, so a lock's memory holds only who may open it. Sent while the gateway is online, at most
   * `ERASE_BATCH` per call, again after `eraseRetryMs` until the lock confirms (answers.ts marks the grant erased).
   */
  async eraseEnded(tx: Queryable): Promise<number> {
    const due = await tx.query<{ lock_id: string; grantee: string; gateway: string; owner: string }>(
      `WITH due AS (
         SELECT g.lock_id, g.grantee, l.gateway, l.owner
           FROM smartlock_grants g JOIN smartlock_locks l USING (lock_id)
           JOIN smartlock_gateways w ON w.deviceid = l.gateway
          WHERE w.online AND g.valid_until <= now() AND g.erased_at IS NULL
            AND (g.erase_sent_at IS NULL OR g.erase_sent_at < now() - make_interval(secs => $1))
          ORDER BY g.valid_until LIMIT $2 FOR UPDATE OF g SKIP LOCKED)
       UPDATE smartlock_grants g SET erase_sent_at = now() FROM due
        WHERE g.lock_id = due.lock_id AND g.grantee = due.grantee
       RETURNING due.lock_id, due.grantee, due.gateway, due.owner`,
      [this.options.eraseRetryMs / 1000, ERASE_BATCH],
    );
    for (const grant of due.rows)
      await this.sendFrame(
        tx,
        grant.owner,
        { id: 'grant-ended' },
        'eraseUser',
        grant,
        { grantee: grant.grantee },
        (frame) => ({
          type: 'writeUserAccountIdRequest',
          ...frame,
          mode: 'remove',
          userId: grant.grantee,
        }),
      );
    return due.rows.length;
  }

  /** `via`: the TPSP concerned (linked, unlinked, or acting in the owner's name). */
  async audit(
    tx: Queryable,
    lockId: string,
    user: string,
    action: string,
    status: StatusName | number,
    via?: string,
  ) {
    const code = typeof status === 'number' ? status : STATUS[status].code;
    await tx.query(
      'INSERT INTO smartlock_audit (lock_id, userid, action, status, via) VALUES ($1, $2, $3, $4, $5)',
      [lockId, user, action, code, via ?? null],
    );
  }

  /** Records a scan that waits for `gateway`'s result; answers the id the gateway echoes (`p<id>`). */
  private async pendingScan(tx: Queryable, me: string, requestId: string, gateway: string, waitMs: number) {
    const row = await one<{ id: string }>(
      tx,
      `INSERT INTO smartlock_pending (request_id, userid, operation, gateway, wait_until)
       VALUES ($1, $2, 'lockDiscover', $3, $4) RETURNING id`,
      [requestId, me, gateway, new Date(Date.now() + waitMs)],
    );
    return `p${row!.id}`;
  }

  /**
   * Seals a request frame for the lock under its key with the lock's next counter and `deadline` (Unix seconds;
   * `frameMs` from now by default), records what waits for its answer (the request `request.id` of `me`), and sends
   * it to the lock's gateway.
   */
  async sendFrame(
    tx: Queryable,
    me: string,
    request: { id: string },
    operation: PendingOperation,
    lock: { lock_id?: string; lockId?: string; gateway: string },
    detail: object,
    build: (header: { lockId: string; keyId: number; counter: number; deadline: number }) => FrameInput,
    deadline = Math.floor((Date.now() + this.options.frameMs) / 1000),
  ): Promise<void> {
    const lockId = (lock.lock_id ?? lock.lockId)!;
    const waitMs = Math.max(0, deadline * 1000 - Date.now()) + this.options.graceMs;
    // The lock's next counter and what waits for the answer, in one statement; the frame is sealed after.
    const record = await one<{ key: Buffer; key_id: number; counter: string; id: string }>(
      tx,
      `WITH next AS (
         UPDATE smartlock_factory_records SET counter = counter + 1 WHERE lock_id = $1
         RETURNING key, key_id, counter),
       waiting AS (
         INSERT INTO smartlock_pending (request_id, userid, operation, lock_id, gateway, counter, detail, wait_until)
         SELECT $2, $3, $4, $1, $5, counter, $6, $7 FROM next RETURNING id)
       SELECT key, key_id, counter, id FROM next, waiting`,
      [
        lockId,
        request.id,
        me,
        operation,
        lock.gateway,
        JSON.stringify(detail),
        new Date(Date.now() + waitMs),
      ],
    );
    const counter = Number(record!.counter);
    const frame = sealFrame(record!.key, build({ lockId, keyId: record!.key_id, counter, deadline }));
    const requestId = `p${record!.id}`;
    await this.toGateway(
      tx,
      lock.gateway,
      buildToGateway({ type: 'frame', requestId, lockId, frame: frame.toString('base64') }),
    );
  }

  private toGateway(tx: Queryable, gateway: string, data: string): Promise<void> {
    return this.ctx.push({ deviceid: gateway }, data, tx);
  }
}

async function one<T = Record<string, unknown>>(
  tx: Queryable,
  sql: string,
  params: unknown[],
): Promise<T | undefined> {
  return (await tx.query<T>(sql, params)).rows[0];
}

export const iso = (date: Date): string => date.toISOString().replace(/\.\d{3}Z$/, 'Z');

/** `bob` → `bob@<domain>`; a full ID unchanged. */
export const fullUserId = (id: string, domain: string): string => (id.includes('@') ? id : `${id}@${domain}`);

/** The request's id when it can be read, for an error answer to a request that was refused whole. */
export function readableId(data: string): string | null {
  const object = readVersionedObject(data);
  const id = object.ok ? requestIdSchema.safeParse(object.value.id) : undefined;
  return id?.success ? id.data : null;
}
