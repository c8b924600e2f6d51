/**
 * Resources bound per account on this server (RFC 6120 §7.6.2.1): each bound resource holds a connection with
 * its buffers (about 20 KB), so one account must not bind without limit. The count is per process: with several
 * message servers an account can hold the cap on each.
 */
import type { C2sSession } from './session.js';

export const DEFAULT_MAX_RESOURCES_PER_ACCOUNT = 32;

export class BoundResources {
  private readonly byAccount = new Map<string, Set<C2sSession>>();

  constructor(readonly maxPerAccount: number) {
    if (!Number.isInteger(maxPerAccount) || maxPerAccount < 1) {
      throw new TypeError('maxResourcesPerAccount must be a positive integer');
    }
  }

  /**
   * Counts `session` as bound to `local` unless the account is at its cap. A resource the account already has
   * is always allowed: binding it replaces the older session (conflict), so the count does not grow.
   */
  claim(session: C2sSession, local: string, resource: string): boolean {
    let sessions = this.byAccount.get(local);
    if (sessions === undefined) {
      sessions = new Set();
      this.byAccount.set(local, sessions);
    }
    if (sessions.size >= this.maxPerAccount) {
      let replaces = false;
      for (const other of sessions) if (other.jid.resource === resource) replaces = true;
      if (!replaces) return false;
    }
    sessions.add(session);
    return true;
  }

  release(session: C2sSession, local: string): void {
    const sessions = this.byAccount.get(local);
    if (sessions === undefined) return;
    sessions.delete(session);
    if (sessions.size === 0) this.byAccount.delete(local);
  }

  /** Resources bound to an account now. */
  count(local: string): number {
    return this.byAccount.get(local)?.size ?? 0;
  }
}
