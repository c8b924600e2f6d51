/**
 * Clause 6.6: a TPSP's requests (Message 14 from the gateway's application server, naming the TPSP in `thirdparty`
 * and the lock's owner in `userid`; docs/smartlock.md, "The TPSP"). A TPSP acts only on locks their owner linked to
 * it, and only as far as the owner could share: a guest grant is written into the lock like the owner's own
 * (Tables 3–6) and answered when the lock has it. Every outcome goes back to the TPSP as a `requestResult` event.
 */
import { parseTpspRequest, STATUS, type StatusName, type TpspRequest } from '@irsp/smartlock';
import type { Queryable } from '@irsp/store';
import type { ApplicationContext } from '../../application.js';
import { Replies } from './replies.js';
import { fullUserId, iso, readableId, type LockRow, type Requests } from './requests.js';
import type { ThirdParties } from './third-parties.js';

export class TpspRequests {
  private readonly replies: Replies;

  constructor(
    private readonly ctx: ApplicationContext,
    private readonly requests: Requests,
    private readonly thirdParties: ThirdParties,
  ) {
    this.replies = new Replies(ctx);
  }

  /** Message 14 naming `thirdParty`, about the lock owner `userid` (a local part of this AS). */
  async handle(tx: Queryable, thirdParty: string, userid: string, data: string): Promise<void> {
    const owner = `${userid}@${this.ctx.domain}`;
    const parsed = parseTpspRequest(data);
    if (!parsed.ok) {
      this.ctx.logger.info({ thirdParty, detail: parsed.error.detail }, 'TPSP request refused');
      return this.thirdParties.result(tx, thirdParty, owner, readableId(data), null, parsed.error.status);
    }
    const request = parsed.value;
    const refuse = (status: StatusName) => {
      this.ctx.logger.info({ thirdParty, operation: request.operation, status }, 'TPSP request refused');
      return this.thirdParties.result(
        tx,
        thirdParty,
        owner,
        request.id,
        request.operation,
        STATUS[status].code,
      );
    };
    // A lock that is not the owner's, or not linked to this TPSP, is refused alike: the TPSP learns nothing of it.
    const lock = await tx.query<LockRow>(
      `SELECT k.lock_id, k.owner, k.gateway FROM smartlock_locks k
         JOIN smartlock_third_party_links l ON l.lock_id = k.lock_id AND l.third_party = $2
        WHERE k.lock_id = $1 AND k.owner = $3`,
      [request.body.lockId, thirdParty, owner],
    );
    const linked = lock.rows[0];
    if (!linked) return refuse('thirdPartyNotLinked');
    const guest = fullUserId(request.body.guest, this.ctx.domain);
    if (request.operation === 'guestGrant')
      return this.guestGrant(tx, thirdParty, linked, guest, request, refuse);
    return this.guestRevoke(tx, thirdParty, linked, guest, request, refuse);
  }

  private async guestGrant(
    tx: Queryable,
    thirdParty: string,
    lock: LockRow,
    guest: string,
    request: Extract<TpspRequest, { operation: 'guestGrant' }>,
    refuse: (status: StatusName) => Promise<void>,
  ): Promise<void> {
    if (guest === lock.owner) return refuse('userNotRegistered');
    if ((await tx.query('SELECT 1 FROM smartlock_users WHERE userid = $1', [guest])).rowCount === 0)
      return refuse('userNotRegistered');
    // The owner's own grant to this guest is the owner's to change.
    const existing = await tx.query<{ granted_by: string | null }>(
      'SELECT granted_by FROM smartlock_grants WHERE lock_id = $1 AND grantee = $2',
      [lock.lock_id, guest],
    );
    const by = existing.rows[0]?.granted_by;
    if (existing.rows[0] && by !== thirdParty) return refuse('forbidden');
    if (!(await this.requests.gatewayOnline(tx, lock.gateway))) return refuse('gatewayOffline');
    const { from, until } = request.body;
    await this.requests.sendFrame(
      tx,
      lock.owner,
      request,
      'grantAccess',
      lock,
      { grantee: guest, from, until, via: thirdParty },
      (frame) => ({ type: 'writeUserAccountIdRequest', ...frame, mode: 'add', userId: guest }),
    );
  }

  /** Effective at once, like the owner's revokeAccess; the lock forgets the ID when its gateway can take it. */
  private async guestRevoke(
    tx: Queryable,
    thirdParty: string,
    lock: LockRow,
    guest: string,
    request: Extract<TpspRequest, { operation: 'guestRevoke' }>,
    refuse: (status: StatusName) => Promise<void>,
  ): Promise<void> {
    const removed = await tx.query(
      'DELETE FROM smartlock_grants WHERE lock_id = $1 AND grantee = $2 AND granted_by = $3',
      [lock.lock_id, guest, thirdParty],
    );
    if (removed.rowCount === 0) return refuse('userNotRegistered');
    await this.requests.audit(tx, lock.lock_id, lock.owner, 'revokeAccess', 'ok', thirdParty);
    if (await this.requests.gatewayOnline(tx, lock.gateway))
      await this.requests.sendFrame(
        tx,
        lock.owner,
        request,
        'eraseUser',
        lock,
        { grantee: guest },
        (frame) => ({ type: 'writeUserAccountIdRequest', ...frame, mode: 'remove', userId: guest }),
      );
    const revoked = {
      event: 'accessRevoked',
      lockId: lock.lock_id,
      grantee: guest,
      at: iso(new Date()),
    } as const;
    await this.replies.event(tx, guest, revoked);
    await this.replies.event(tx, lock.owner, revoked);
    return this.thirdParties.result(tx, thirdParty, lock.owner, request.id, 'guestRevoke', STATUS.ok.code);
  }
}
