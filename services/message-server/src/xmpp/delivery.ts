/**
 * Getting stanzas to their recipients, here or in another AS, and the answers the router gives: the pieces the
 * router, the presence handler and the server's own iqs share.
 */
import {
  Element,
  OutputBarrier,
  jidToString,
  stanzaError,
  xml,
  type C2sSession,
  type Jid,
  type S2sIncomingStream,
  type StanzaErrorCondition,
} from '@irsp/xmpp';
import type { Logger } from '@irsp/http';
import type { ClusterBus } from '../cluster.js';
import type { BlockList } from './blocklist.js';
import type { RosterChange, RosterStore } from './roster.js';
import type { SessionRegistry } from './sessions.js';

export const ROSTER_NS = 'jabber:iq:roster';

/**
 * Who sent a stanza: a local session, or an account of another AS reached over s2s (answers go back there). Its
 * hold() keeps every later answer back until a promise (a message's offline storage) has settled.
 */
export type Origin = Pick<C2sSession, 'jid' | 'send' | 'pause' | 'resume' | 'hold'> & {
  /** A message relayed from another message server: what it was written with, to report when it is safe. */
  confirm?(delivered: Promise<boolean>): void;
};

/**
 * A session stanzas are written to: one of this server, or one another message server of the AS holds (written
 * there through the cluster bus, decision 0024).
 */
export type Recipient = Pick<C2sSession, 'jid' | 'send' | 'sendConfirmed' | 'writable'>;

/** The message servers of other ASs (clause 8.5), reached over XMPP server-to-server streams. */
export interface OtherAses {
  send(stanza: Element): void;
}

export class Delivery {
  private pushId = 0;
  private otherAses: OtherAses | undefined;
  private bus: ClusterBus | undefined;
  /** Answers to the accounts behind one incoming s2s stream, held as that stream's own output is. */
  private readonly remoteBarriers = new WeakMap<S2sIncomingStream, OutputBarrier>();

  constructor(
    readonly domain: string,
    readonly sessions: SessionRegistry,
    readonly roster: RosterStore,
    /** XEP-0191 blocklists, enforced wherever a stanza between two accounts is routed. */
    readonly blocklist: BlockList,
    private readonly logger: Logger,
  ) {}

  /** Federation is switched on once the s2s engine exists (it needs the router first). */
  federate(otherAses: OtherAses): void {
    this.otherAses = otherAses;
  }

  /** Switches the cluster on (decision 0024): sessions of the other message servers of the AS are reached. */
  cluster(bus: ClusterBus): void {
    this.bus = bus;
  }

  get clustered(): ClusterBus | undefined {
    return this.bus;
  }

  /** Every online resource of a local account, on this server or another of the AS. */
  everywhere(local: string): Recipient[] {
    const here: Recipient[] = this.sessions.resources(local);
    if (!this.bus) return here;
    return [...here, ...this.sessions.remote(local).map((r) => this.relayTo(r.server, local, r.resource))];
  }

  /** One online resource of a local account, on this server or another of the AS. */
  recipient(local: string, resource: string): Recipient | undefined {
    const here = this.sessions.resource(local, resource);
    if (here || !this.bus) return here;
    const server = this.sessions.remoteResource(local, resource);
    return server === undefined ? undefined : this.relayTo(server, local, resource);
  }

  /** A session of another server of the AS: what is written to it is relayed there (presence, iqs, pushes). */
  private relayTo(server: string, local: string, resource: string): Recipient {
    const bus = this.bus!;
    const send = (stanza: Element) => {
      bus.send(server, { kind: 'stanza', local, resource, stanza: stanza.toString() });
      return true;
    };
    return {
      jid: { local, domain: this.domain, resource },
      send,
      sendConfirmed: (stanza) => Promise.resolve(send(stanza)),
      writable: () => Promise.resolve(),
    };
  }

  get federated(): boolean {
    return this.otherAses !== undefined;
  }

  /** To another AS; false when federation is off. */
  toOtherAs(stanza: Element): boolean {
    if (!this.otherAses) return false;
    this.otherAses.send(stanza);
    return true;
  }

  /**
   * An account of another AS as the origin of a stanza that came on `stream`: answers to it go back over s2s, after
   * what the stream holds (hold() holds both the stream's own output and these answers, in order).
   */
  remoteOrigin(jid: Jid, stream: S2sIncomingStream): Origin {
    let barrier = this.remoteBarriers.get(stream);
    if (!barrier) {
      barrier = new OutputBarrier(
        (refusal) => {
          if (refusal instanceof Element) this.toOtherAs(refusal);
        },
        (error) => this.logger.error({ err: error }, 'held answer to another AS not written'),
      );
      this.remoteBarriers.set(stream, barrier);
    }
    const held = barrier;
    return {
      jid,
      send: (stanza) => {
        held.run(() => void this.toOtherAs(stanza));
        return true;
      },
      pause: () => undefined,
      resume: () => undefined,
      hold: (durable) => {
        stream.hold(durable);
        held.hold(durable);
      },
    };
  }

  /**
   * An account of another AS as the sender of a stanza that is not being read from its stream (one handed back by
   * XEP-0198 after the session it went to ended): answers go over s2s; nothing follows them on a stream of ours, so a
   * refusal is sent once known.
   */
  remoteSender(jid: Jid): Origin {
    return {
      jid,
      send: (stanza) => this.toOtherAs(stanza),
      pause: () => undefined,
      resume: () => undefined,
      hold: (durable) =>
        void durable.then((refusal) => refusal instanceof Element && this.toOtherAs(refusal)),
    };
  }

  /** To every online resource of a local account, or to the bare JID of an account of another AS. */
  toAll(bare: string, stanza: Element): void {
    const local = this.roster.local(bare);
    if (local === undefined) {
      const copy = stanza.clone();
      copy.attrs.to = bare;
      this.toOtherAs(copy);
      return;
    }
    for (const session of this.everywhere(local)) session.send(stanza);
  }

  /**
   * Writes to the recipient; a recipient that cannot keep up pauses the sender (back-pressure). A message relayed
   * from another server is written confirmed: that server keeps a copy until it is safe here.
   */
  deliver(from: Origin, to: Recipient, stanza: Element): void {
    if (from.confirm) return from.confirm(to.sendConfirmed(stanza));
    if (!to.send(stanza)) {
      from.pause();
      void to.writable().then(() => from.resume());
    }
  }

  /** Roster pushes to every online resource of each owner (RFC 6121 §2.1.6). */
  pushChanges(changes: RosterChange[]): void {
    for (const change of changes) {
      for (const session of this.everywhere(change.owner)) {
        session.send(
          xml(
            'iq',
            { type: 'set', id: `push-${++this.pushId}`, to: jidToString(session.jid) },
            xml('query', { xmlns: ROSTER_NS }, itemElement(change.item)),
          ),
        );
      }
    }
  }

  nextId(prefix: string): string {
    return `${prefix}-${++this.pushId}`;
  }

  errorReply(
    stanza: Element,
    type: 'auth' | 'cancel' | 'modify' | 'wait',
    condition: StanzaErrorCondition,
    text?: string,
  ): Element {
    const reply = stanzaError(stanza, type, condition, text);
    reply.attrs.from = stanza.attrs.to ?? this.domain;
    return reply;
  }

  result(stanza: Element): Element {
    return xml('iq', { type: 'result', id: stanza.attrs.id, from: stanza.attrs.to, to: stanza.attrs.from });
  }

  /** A stanza not delivered: the sender learns why, unless it was an answer or presence (RFC 6121: dropped). */
  refuse(
    from: Origin,
    stanza: Element,
    condition: StanzaErrorCondition,
    type: 'cancel' | 'auth' | 'wait' = 'cancel',
    text?: string,
  ): void {
    if (stanza.attrs.type === 'error' || stanza.attrs.type === 'result') return;
    if (stanza.name === 'presence') return;
    from.send(this.errorReply(stanza, type, condition, text));
    // At info: a blocked or refused stanza is what an operator asks about first.
    this.logger.info(
      { from: jidToString(from.jid), to: stanza.attrs.to, name: stanza.name, condition },
      'stanza not delivered',
    );
  }
}

export function itemElement(item: RosterChange['item']): Element {
  if (item.subscription === 'remove') return xml('item', { jid: item.contact, subscription: 'remove' });
  return xml(
    'item',
    {
      jid: item.contact,
      subscription: item.subscription,
      name: item.name ?? undefined,
      ask: item.ask ? 'subscribe' : undefined,
    },
    ...item.groups.map((g) => xml('group', {}, g)),
  );
}

/** A command in the sense of §9: a message or an iq request, not an answer or an error. */
export function isCommand(stanza: Element): boolean {
  if (stanza.name === 'message') return stanza.attrs.type !== 'error';
  return stanza.name === 'iq' && (stanza.attrs.type === 'get' || stanza.attrs.type === 'set');
}
