/**
 * The online sessions of this message server, by bare JID and resource (14543-5-8 §8 connection ID binding:
 * one connection per full JID, several resources per user or device), and, in a cluster (decision 0024), which
 * other message server of the AS holds each of the others.
 */
import type { C2sSession } from '@irsp/xmpp';

export class SessionRegistry {
  private readonly byLocal = new Map<string, Map<string, C2sSession>>();
  /** Sessions held by the other message servers of the AS: account → resource → server id. */
  private readonly elsewhere = new Map<string, Map<string, string>>();

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

  // --- sessions of the other message servers of the AS ------------------------------------------------------------

  /** Where each resource of `local` held by another server is. */
  remote(local: string): { resource: string; server: string }[] {
    return [...(this.elsewhere.get(local) ?? [])].map(([resource, server]) => ({ resource, server }));
  }

  remoteResource(local: string, resource: string): string | undefined {
    return this.elsewhere.get(local)?.get(resource);
  }

  remoteBound(server: string, local: string, resource: string): void {
    let resources = this.elsewhere.get(local);
    if (!resources) this.elsewhere.set(local, (resources = new Map()));
    resources.set(resource, server);
  }

  /** Only `server`'s entry goes: the same full JID may have bound on another server since. */
  remoteUnbound(server: string, local: string, resource: string): void {
    const resources = this.elsewhere.get(local);
    if (resources?.get(resource) !== server) return;
    resources.delete(resource);
    if (resources.size === 0) this.elsewhere.delete(local);
  }

  /** Every entry of the given servers (dead), or of all servers (read again from the database). */
  remoteForget(servers?: ReadonlySet<string>): void {
    for (const [local, resources] of this.elsewhere) {
      for (const [resource, server] of resources)
        if (!servers || servers.has(server)) resources.delete(resource);
      if (resources.size === 0) this.elsewhere.delete(local);
    }
  }
}
