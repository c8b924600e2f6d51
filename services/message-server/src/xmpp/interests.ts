/**
 * What a resource asked its server to be sent: copies of its account's chats (XEP-0280 carbons, once enabled) and
 * pushes of its account's blocklist (XEP-0191 §3.1, once it read the list). Kept with the session on the server
 * that holds it; in a cluster (decision 0024) a stanza for the interested resources of an account goes to each
 * other server holding some of them, which writes it to its own interested sessions (decision 0025).
 */
import { jidToString, type C2sSession, type Element } from '@irsp/xmpp';
import type { Delivery } from './delivery.js';

export type Interest = 'carbons' | 'blocklist';

export class Interests {
  private readonly of = new WeakMap<C2sSession, Set<Interest>>();

  constructor(private readonly delivery: Delivery) {}

  set(session: C2sSession, interest: Interest, on: boolean): void {
    let set = this.of.get(session);
    if (!set) this.of.set(session, (set = new Set()));
    if (on) set.add(interest);
    else set.delete(interest);
  }

  has(session: C2sSession, interest: Interest): boolean {
    return this.of.get(session)?.has(interest) ?? false;
  }

  /**
   * `stanza`, addressed to each full JID in turn, to every resource of `local` interested in `interest`, here and on
   * the other message servers of the AS, `except` one resource (the one the stanza is about). Best effort: like
   * presence, nothing of it is stored when a resource is gone.
   */
  send(local: string, interest: Interest, stanza: Element, except?: string): void {
    this.here(local, interest, stanza, except);
    const bus = this.delivery.clustered;
    if (!bus) return;
    const servers = this.delivery.sessions
      .remote(local)
      .filter((r) => r.resource !== except)
      .map((r) => r.server);
    const text = stanza.toString();
    for (const server of new Set(servers))
      bus.send(server, { kind: 'interested', local, interest, except, stanza: text });
  }

  /** `stanza` to the interested sessions of `local` this server holds (relayed here by another server too). */
  here(local: string, interest: Interest, stanza: Element, except?: string): void {
    for (const session of this.delivery.sessions.resources(local)) {
      if (session.jid.resource === except || !this.has(session, interest)) continue;
      const copy = stanza.clone();
      copy.attrs.to = jidToString(session.jid);
      session.send(copy);
    }
  }
}
