/**
 * Clause 6.6: the TPSPs an owner linked a lock to, reached through the IRSP's gateway to third-party servers (clause
 * 8.8; docs/smartlock.md, "The TPSP"). What the RAS tells a TPSP is Message 14 to the gateway's application server,
 * naming the TPSP in `thirdparty` and the lock's owner in `userid`, queued in the transaction of what caused it; the
 * gateway posts it to the TPSP as a signed webhook. A TPSP's request is the Message 14 the gateway makes of its
 * signed call, and only that server is believed when it names a third party.
 */
import {
  STATUS,
  buildTpspEvent,
  statusByCode,
  type TpspEventData,
  type TpspOperation,
} from '@irsp/smartlock';
import type { Queryable } from '@irsp/store';
import type { ApplicationContext } from '../../application.js';
import type { LocalApplicationServer } from '../../context.js';
import { localOf } from './replies.js';
import { iso } from './requests.js';

type LockEvent = Exclude<TpspEventData, { event: 'requestResult' }>;

export class ThirdParties {
  constructor(
    private readonly ctx: ApplicationContext,
    /** The gateway's server; undefined when the topology names none (then no TPSP is linked or heard). */
    private readonly gateway: LocalApplicationServer | undefined,
  ) {}

  /** Whether `name` is a third party of the gateway that may call this server. */
  exists(name: string): boolean {
    return this.gateway?.thirdParties.includes(name) === true;
  }

  /** Whether a Message 14–15 naming a third party comes from the gateway (its appid, checked with its token). */
  isGateway(appid: string | undefined): boolean {
    return this.gateway !== undefined && appid === this.gateway.appid;
  }

  /** Tells every TPSP linked to the lock. */
  async tell(tx: Queryable, lockId: string, event: LockEvent): Promise<void> {
    const links = await tx.query<{ third_party: string; owner: string }>(
      `SELECT l.third_party, k.owner FROM smartlock_third_party_links l JOIN smartlock_locks k USING (lock_id)
        WHERE l.lock_id = $1 ORDER BY l.third_party`,
      [lockId],
    );
    const data = buildTpspEvent(event);
    for (const link of links.rows) await this.send(tx, link.third_party, link.owner, data);
  }

  /** Tells the TPSPs the caller found linked to a lock of `owner` (read with what it changed). */
  async tellLinked(tx: Queryable, thirdParties: readonly string[], owner: string, event: LockEvent) {
    if (thirdParties.length === 0) return;
    const data = buildTpspEvent(event);
    for (const thirdParty of thirdParties) await this.send(tx, thirdParty, owner, data);
  }

  /** Tells one TPSP, linked or not (a link made or ended, the answer to its own request). */
  async tellOne(tx: Queryable, thirdParty: string, owner: string, event: TpspEventData): Promise<void> {
    await this.send(tx, thirdParty, owner, buildTpspEvent(event));
  }

  /** The outcome of a TPSP's request, a Table 1 code. */
  result(
    tx: Queryable,
    thirdParty: string,
    owner: string,
    requestId: string | null,
    operation: TpspOperation | null,
    code: number,
  ): Promise<void> {
    const status = statusByCode(code) ?? STATUS.internalError;
    return this.tellOne(tx, thirdParty, owner, {
      event: 'requestResult',
      requestId,
      operation,
      status: status.code,
      message: status.message,
      at: iso(new Date()),
    });
  }

  private async send(tx: Queryable, thirdParty: string, owner: string, data: string): Promise<void> {
    const userid = localOf(owner, this.ctx.domain);
    if (this.gateway === undefined || userid === undefined) return;
    await this.ctx.exchange({ server: this.gateway.name, thirdParty }, { userid }, data, tx);
  }
}
