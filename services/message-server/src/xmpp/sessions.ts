/**
 * The online sessions of this message server, by bare JID and resource (14543-5-8 §8 connection ID binding:
 * one connection per full JID, several resources per user or device).
 */
import type { C2sSession } from '@irsp/xmpp';

export class SessionRegistry {
  private readonly byLocal = new Map<string, Map<string, C2sSession>>();

  /** Adds a session; an older one with the same full JID is returned so that it can be closed (conflict). */
  add(session: C2sSession): C2sSession | undefined {
    const local = session.jid.local!;
    const resource = session.jid.resource!;
    let resources = this.byLocal.get(local);
    if (!resources) this.byLocal.set(local, (resources = new Map()));
    const previous = resources.get(resource);
    resources.set(resource, session);
    return previous === session ? undefined : previous;
  }

  remove(session: C2sSession): void {
    const resources = this.byLocal.get(session.jid.local!);
    if (resources?.get(session.jid.resource!) !== session) return;
    resources.delete(session.jid.resource!);
    if (resources.size === 0) this.byLocal.delete(session.jid.local!);
  }

  resource(local: string, resource: string): C2sSession | undefined {
    return this.byLocal.get(local)?.get(resource);
  }

  /** Every session, by account and resource. */
  keys(): { local: string; resource: string }[] {
    return [...this.byLocal].flatMap(([local, resources]) =>
      [...resources.keys()].map((resource) => ({ local, resource })),
    );
  }

  /** Every online resource of a user or device. */
  resources(local: string): C2sSession[] {
    return [...(this.byLocal.get(local)?.values() ?? [])];
  }
}
