/** How the RAS answers a RAC (Message 12): a response to a request (7.7) or an event (Table 2), queued durably. */
import {
  buildPush,
  buildResponse,
  statusByCode,
  type Operation,
  type PushData,
  type ResponseBody,
  type StatusName,
} from '@irsp/smartlock';
import type { Queryable } from '@irsp/store';
import type { ApplicationContext } from '../../application.js';

export class Replies {
  constructor(private readonly ctx: ApplicationContext) {}

  /** `user` is the full user ID (`local@domain`); only users of this AS are reached (Message 12). */
  respond<O extends Operation>(
    tx: Queryable,
    user: string,
    operation: O,
    id: string | null,
    status: StatusName,
    body?: ResponseBody<O>,
  ): Promise<void> {
    return this.toUser(tx, user, buildResponse(operation, { id, status, body }));
  }

  /** A status code (from a lock's frame, say) as a response. */
  respondCode(tx: Queryable, user: string, operation: Operation, id: string, code: number): Promise<void> {
    return this.respond(tx, user, operation, id, statusByCode(code)?.name ?? 'internalError');
  }

  event(tx: Queryable, user: string, push: PushData): Promise<void> {
    return this.toUser(tx, user, buildPush(push));
  }

  private async toUser(tx: Queryable, user: string, data: string): Promise<void> {
    const local = localOf(user, this.ctx.domain);
    if (local !== undefined) await this.ctx.push({ userid: local }, data, tx);
  }
}

/** The local part of a user ID of this AS (`alice` or `alice@as1…`); undefined for one of another AS. */
export function localOf(user: string, domain: string): string | undefined {
  const at = user.indexOf('@');
  if (at === -1) return user;
  return user.slice(at + 1) === domain ? user.slice(0, at) : undefined;
}
