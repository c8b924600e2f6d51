/**
 * The IRSP rules on top of the XMPP engine (14543-5-9 clauses 7.2 and 8.5, 14543-5-8 §8–13), for stanzas from local
 * sessions (c2s) and from other ASs (s2s):
 * - sessions bound per full JID (an older one is closed with `conflict`), several resources per account;
 * - relationships and presence (presence.ts), the server's own iqs and device management (server-iqs.ts);
 * - blocking (clause 7.2 b–d): messages and iqs between users and devices that are not related are not
 *   delivered, the sender gets `service-unavailable`; the server's own address and its AS's application servers
 *   are exempt — the same rule holds across ASs, checked on both sides;
 * - device access rights (§9): a user sends a device commands only as its owner or with the owner's grant;
 * - XEP-0191 blocklists on top of that rule (blocklist.ts), and XEP-0280 carbon copies of what passed to the
 *   account's own other resources (carbons.ts; decision 0025);
 * - offline storage (XEP-0160): a message to a related account with no online resource is stored and delivered
 *   with an XEP-0203 delay stamp when it next sends initial presence;
 * - uploads to application servers become Messages 8/9, device status Messages 10/11 (notifications.ts), written
 *   with the AS's record of who is online where (online-sessions.ts), which also reports sessions lost in a crash;
 * - an OSAP device's DAS connection is a session like any other (osap/das-session.ts, decision 0027); its reported
 *   attributes and operations to its bare JID are ours (osap-iqs.ts);
 * - in a cluster (docs/decisions/0024-cluster-on-nats.md), stanzas for sessions another message server of the AS
 *   holds are relayed there over the bus, after every rule above was applied here.
 */
import type { GuessLimits, GuessPolicy } from '@irsp/credentials';
import type { Logger } from '@irsp/http';
import { MAX_DATA_LENGTH } from '@irsp/protocol';
import type { Db } from '@irsp/store';
import {
  bareString,
  jidToString,
  parseElement,
  parseJid,
  xml,
  type C2sRouter,
  type C2sSession,
  Element,
  type Jid,
  type S2sIncomingStream,
} from '@irsp/xmpp';
import type { ClusterBus, ClusterHandlers, Changed, MessageAnswer, Relayed } from '../cluster.js';
import type { Notifications } from '../notifications.js';
import type { OnlineSessions, SessionHooks, SessionKey } from '../online-sessions.js';
import { AccessRights } from './access.js';
import { Blocking, blockedError } from './blocking.js';
import { BlockList } from './blocklist.js';
import { Carbons, isCarbon } from './carbons.js';
import { Delivery, isCommand, type Origin, type OtherAses, type Recipient } from './delivery.js';
import { Inbox } from './inbox.js';
import { Interests } from './interests.js';
import { OsapAttributes } from '../osap/attributes.js';
import { answerAttributes, isAttributesQuery, isDasResource, isOperate } from './osap-iqs.js';
import type { OfflineStore } from './offline.js';
import { marked, Presence } from './presence.js';
import { PrivateStorage } from './private-storage.js';
import { RosterStore } from './roster.js';
import { ServerIqs, isDeviceManagement } from './server-iqs.js';
import { SessionRegistry } from './sessions.js';
import { VerifyCodeCheck } from './verify-code-check.js';

export { VERIFY_CODE_NS } from './presence.js';

export { ACCESS_NS } from './server-iqs.js';

export class MessageRouter implements C2sRouter, SessionHooks {
  readonly sessions = new SessionRegistry();
  readonly roster: RosterStore;
  readonly access: AccessRights;
  private readonly blocklist: BlockList;
  private readonly interests: Interests;
  private readonly carbons: Carbons;
  private readonly delivery: Delivery;
  private readonly presence: Presence;
  private readonly serverIqs: ServerIqs;
  private readonly inbox: Inbox;
  private readonly osapAttributes: OsapAttributes;
  private online: OnlineSessions | undefined;
  private bus: ClusterBus | undefined;
  /**
   * Messages relayed to another message server and written live there, kept until it reports them safe with their
   * recipient: stored offline here when it reports them lost or dies (decision 0024).
   */
  private readonly inFlight = new Map<string, { server: string; local: string; stanza: Element; at: Date }>();
  /** Settlements that overtook the answer to their message. */
  private readonly settledEarly = new Map<string, boolean>();
  /** Servers already found dead (their sessions dropped from the registry once). */
  private readonly deadServers = new Set<string>();

  constructor(
    private readonly domain: string,
    db: Db,
    offline: OfflineStore,
    private readonly notifications: Notifications,
    /** Stores a device's new verification code and sends Message 7 (verify-code.ts). */
    resetVerifyCode: (device: string, code: string) => Promise<200 | 422>,
    private readonly logger: Logger,
    /** The `verifycode` guessing policy, shared with every message server of the AS through the database. */
    verifyCodes: { policy: GuessPolicy; limits: GuessLimits },
  ) {
    this.roster = new RosterStore(db, domain);
    this.access = new AccessRights(db);
    this.osapAttributes = new OsapAttributes(db);
    this.blocklist = new BlockList(db, domain);
    this.delivery = new Delivery(domain, this.sessions, this.roster, this.blocklist, logger);
    this.interests = new Interests(this.delivery);
    this.carbons = new Carbons(this.delivery, this.interests);
    this.inbox = new Inbox(
      domain,
      offline,
      this.delivery,
      (session) => this.presence.available(session),
      logger,
    );
    this.presence = new Presence(
      this.delivery,
      new VerifyCodeCheck(
        verifyCodes.policy,
        verifyCodes.limits,
        this.delivery,
        this.access,
        (local, message) => this.messageTo(undefined, local, undefined, message),
        logger,
      ),
      logger,
    );
    this.serverIqs = new ServerIqs(
      this.delivery,
      this.presence,
      this.access,
      notifications,
      resetVerifyCode,
      {
        carbons: this.carbons,
        privateStorage: new PrivateStorage(db, this.delivery),
        blocking: new Blocking(this.blocklist, this.delivery, this.interests, () => this.presence),
      },
      logger,
    );
  }

  /** Records sessions in the AS's table of who is online where (Messages 10–11 come from there). */
  trackSessions(online: OnlineSessions): void {
    this.online = online;
  }

  /**
   * Switches the cluster on (decision 0024): sessions bound here are announced on the bus, stanzas for sessions of
   * other message servers of the AS are relayed to them. Returns what the bus hands over to this router.
   */
  cluster(
    bus: ClusterBus,
    credentials: { drop(local: string): void; clear(): void },
  ): Omit<ClusterHandlers, 'resume'> {
    this.bus = bus;
    this.delivery.cluster(bus);
    this.roster.announceChanges((roster) => bus.changed({ roster }));
    this.blocklist.announceChanges((blocklist) => bus.changed({ blocklist }));
    return {
      sessionEvent: (event) => {
        if (event.server === bus.serverId) return;
        this.deadServers.delete(event.server);
        if (event.op === 'bound') this.sessions.remoteBound(event.server, event.local, event.resource);
        else this.sessions.remoteUnbound(event.server, event.local, event.resource);
      },
      // Its sessions, and what was relayed to them, went with its previous life.
      started: (server) => {
        this.deadServers.delete(server);
        this.forgetServers(new Set([server]));
      },
      relayed: (item) => this.relayed(item),
      settled: (id, ok) => this.settled(id, ok),
      changed: (change) => this.changed(change, credentials),
      reconnected: () => {
        this.roster.dropAll();
        this.blocklist.dropAll();
        credentials.clear();
        this.readRegistry().catch((error: unknown) =>
          this.logger.error({ err: error }, 'session registry not read again'),
        );
      },
    };
  }

  /** The sessions of the other live message servers, from the AS's database (at start, after a reconnection). */
  async readRegistry(): Promise<void> {
    if (!this.online) return;
    const rows = await this.online.elsewhere();
    this.sessions.remoteForget();
    for (const row of rows) this.sessions.remoteBound(row.server, row.local, row.resource);
  }

  /** Switches federation on (clause 8.5): stanzas to other ASs go through the s2s engine. */
  federate(otherAses: OtherAses): void {
    this.delivery.federate(otherAses);
  }

  // --- sessions ------------------------------------------------------------------------------------------------------

  async bound(session: C2sSession): Promise<void> {
    const local = session.jid.local!;
    const resource = session.jid.resource!;
    const previous = this.sessions.add(session);
    if (previous) previous.close('conflict', 'replaced by a new connection with the same resource');
    this.logger.info({ jid: jidToString(session.jid) }, 'online');
    // The session's row and a device's Message 10 written, and whether stored messages wait for the account known,
    // before it learns it is bound.
    await Promise.all([this.online?.bound(local, resource), this.inbox.opened(local)]);
    this.bus?.sessionChanged('bound', local, resource);
  }

  /**
   * XEP-0198 §5: a session with stream management ended without being resumed. What its client did not acknowledge
   * is handled as if it had been sent to a resource that is gone (RFC 6121 §8.5.3.2): a message to that full JID
   * goes to the account's other online resources, on any server of the AS (not back to the one that sent it), one
   * to the bare JID had reached them already; with none online, messages are stored offline (XEP-0160: normal and
   * chat), stamped (XEP-0203) with the time the server had them — or keeping the stamp of an earlier storage; iq
   * requests are answered to their senders with service-unavailable, presence and everything else is dropped.
   * Handed over before unbound().
   */
  unacknowledged(session: C2sSession, stanzas: Element[], sentAt: Date[]): void {
    const owner = session.jid.local!;
    for (const [i, stanza] of stanzas.entries()) {
      // A carbon copy is best effort (decision 0025): the original it copies keeps its own guarantees.
      if (stanza.name === 'message' && isCarbon(stanza)) continue;
      if (stanza.name === 'message') {
        const delayed = this.inbox.stamped(stanza, sentAt[i] ?? new Date());
        // Not one replacing it (same resource, its bind not yet answered): that one gets them from storage.
        const other = (resource: string) =>
          resource !== session.jid.resource && `${this.roster.bare(owner)}/${resource}` !== stanza.attrs.from;
        const others = this.sessions.resources(owner).filter((s) => other(s.jid.resource!));
        const elsewhere = this.bus ? this.sessions.remote(owner).filter((r) => other(r.resource)) : [];
        if (others.length + elsewhere.length === 0)
          void this.inbox.store(this.originOf(stanza), delayed, owner);
        else if (parseJid(stanza.attrs.to ?? '')?.resource !== undefined && isLive(stanza))
          this.toOtherResources(this.originOf(stanza), owner, others, elsewhere, delayed);
      } else if (stanza.name === 'iq' && (stanza.attrs.type === 'get' || stanza.attrs.type === 'set')) {
        const sender = this.originOf(stanza);
        if (sender !== undefined) this.delivery.refuse(sender, stanza, 'service-unavailable');
      }
    }
    if (stanzas.length > 0)
      this.logger.info(
        { jid: jidToString(session.jid), stanzas: stanzas.length },
        'unacknowledged stanzas of an ended session handled',
      );
  }

  /**
   * A message handed back by an ended session, to the account's other resources here and on other servers of the
   * AS; stored offline when none of those servers took it (their sessions went meanwhile), as messageTo() does.
   */
  private toOtherResources(
    from: Origin | undefined,
    owner: string,
    here: C2sSession[],
    there: { server: string; resource: string }[],
    stanza: Element,
  ): void {
    if (here.length > 0) void this.inbox.toResources(from, owner, here, stanza);
    if (there.length === 0) return;
    const relayed = Promise.all(
      there.map((r) => this.relayMessage(r.server, owner, r.resource, stanza)),
    ).then((answers) => {
      const refusal = answers.find((a) => a.refusal !== undefined)?.refusal;
      if (refusal !== undefined) return parseElement(refusal);
      if (here.length === 0 && !answers.some((a) => a.taken))
        return this.inbox.store(undefined, stanza, owner);
      return undefined;
    });
    from?.hold(relayed);
  }

  /**
   * Who sent a stanza that went to a local session, to answer it: a local session (by full JID, or every resource
   * of a bare one) or an account of another AS; undefined for the server's own stanzas and unknown senders.
   */
  private originOf(stanza: Element): Origin | undefined {
    const from = stanza.attrs.from === undefined ? undefined : parseJid(stanza.attrs.from);
    if (from?.local === undefined) return undefined;
    if (from.domain !== this.domain)
      return this.delivery.federated ? this.delivery.remoteSender(from) : undefined;
    const send = this.sendTo(from);
    return {
      jid: from,
      send,
      pause: () => undefined,
      resume: () => undefined,
      // Nothing of the sender's is read here to answer after it: a refusal is sent once known.
      hold: (durable) => void durable.then((refusal) => refusal instanceof Element && send(refusal)),
    };
  }

  /** Writes to a local account's sessions wherever they are in the AS: one resource, or all of a bare JID. */
  private sendTo(to: Jid): (stanza: Element) => boolean {
    const local = to.local!;
    return (stanza) => {
      const targets =
        to.resource === undefined
          ? this.delivery.everywhere(local)
          : [this.delivery.recipient(local, to.resource)].filter((s) => s !== undefined);
      for (const target of targets) target.send(stanza);
      return true;
    };
  }

  unbound(session: C2sSession): void {
    this.sessions.remove(session);
    const local = session.jid.local!;
    const resource = session.jid.resource!;
    if (this.sessions.resources(local).length === 0) this.inbox.closed(local);
    // A newer session of the same full JID keeps the row; otherwise it goes, with a device's Message 11 when it was
    // the device's last session in the AS.
    if (!this.sessions.resource(local, resource)) {
      this.bus?.sessionChanged('unbound', local, resource);
      this.online
        ?.unbound(local, resource)
        .catch((error: unknown) =>
          this.logger.error({ err: error, jid: jidToString(session.jid) }, 'logout not written'),
        );
    }
    void this.presence
      .gone(session)
      .catch((error: unknown) => this.logger.error({ err: error }, 'unavailable presence not broadcast'));
    this.logger.info({ jid: jidToString(session.jid) }, 'offline');
  }

  /** The sessions this server holds (online-sessions.ts writes them again after losing its lease). */
  held(): SessionKey[] {
    return this.sessions.keys();
  }

  /**
   * Message servers of the AS whose lease ran out: their sessions leave the registry, and what was relayed to them
   * and not yet safe with its recipient is stored offline here.
   */
  dead(servers: string[]): void {
    const fresh = new Set(servers.filter((server) => !this.deadServers.has(server)));
    if (fresh.size === 0) return;
    for (const server of fresh) this.deadServers.add(server);
    this.forgetServers(fresh);
  }

  /** Sessions of these servers leave the registry; messages relayed to them and not yet safe are stored here. */
  private forgetServers(servers: ReadonlySet<string>): void {
    this.sessions.remoteForget(servers);
    for (const [id, message] of this.inFlight) {
      if (!servers.has(message.server)) continue;
      this.inFlight.delete(id);
      this.handBack(message);
    }
  }

  /** Sessions of a crashed message server, taken over: whoever saw them online sees them go. */
  lost(sessions: SessionKey[]): void {
    for (const { local, resource } of sessions) {
      this.presence
        .lost(local, resource)
        .catch((error: unknown) =>
          this.logger.error({ err: error, local, resource }, 'unavailable presence not sent'),
        );
    }
  }

  /**
   * An account removed by Message 5/6: logged out everywhere and gone from every roster here; its relationships
   * with accounts of other ASs (`related`, read before the removal) are ended there too.
   */
  async accountRemoved(local: string, related: string[]): Promise<void> {
    for (const session of this.sessions.resources(local)) session.close('not-authorized', 'account removed');
    this.bus?.changed({ removed: [local] });
    this.blocklist.drop([local]);
    this.delivery.pushChanges(await this.roster.forget(local));
    const own = this.roster.bare(local);
    for (const contact of related) {
      if (this.roster.local(contact) !== undefined) continue;
      this.delivery.toOtherAs(marked('unsubscribe', own, contact));
      this.delivery.toOtherAs(marked('unsubscribed', own, contact));
    }
  }

  /**
   * Messages 12–13 (clause 8.3.3): an application server's push, delivered as a message from its XMPP address to
   * every online resource of the user or device, or stored offline. `data` is the message body.
   */
  async push(
    fromJid: string,
    local: string,
    data: string,
  ): Promise<'delivered' | 'stored' | 'full' | 'unknown'> {
    if (!(await this.roster.accountExists(local))) return 'unknown';
    const stanza = xml(
      'message',
      { from: fromJid, to: this.roster.bare(local), type: 'normal', id: this.delivery.nextId('push') },
      xml('body', {}, data),
    );
    const online = this.sessions.resources(local).length + this.sessions.remote(local).length > 0;
    // Live, or stored behind messages that wait for the account.
    const refusal = await this.messageTo(undefined, local, undefined, stanza);
    return refusal ? 'full' : online ? 'delivered' : 'stored';
  }

  // --- from local sessions (c2s) -----------------------------------------------------------------------------------

  async route(from: C2sSession, stanza: Element): Promise<void> {
    const to = stanza.attrs.to === undefined ? undefined : parseJid(stanza.attrs.to);
    const local = from.jid.local!;
    if (stanza.name === 'presence') {
      if (to === undefined) {
        const type = stanza.attrs.type;
        if (type !== undefined && type !== 'unavailable') return; // RFC 6121 §4.7.1: ignored without a `to`
        // What was stored while the account was offline follows its initial presence (XEP-0160 §4), alongside the
        // stream: its answers (XEP-0198 acks among them) are read while the backlog is sent.
        if (await this.presence.own(from, stanza)) this.inbox.initialPresence(from);
        return;
      }
      return this.presence.directed(from, stanza, to);
    }
    if (!to || (to.local === undefined && to.domain === this.domain && to.resource === undefined)) {
      return this.serverIqs.toServer(from, stanza);
    }
    if (
      to.local === undefined &&
      to.resource === undefined &&
      this.notifications.isApplicationServer(to.domain)
    ) {
      return this.toApplicationServer(from, stanza, to.domain);
    }
    if (to.domain !== this.domain) return this.toOtherAs(from, stanza, to);
    if (to.local === undefined) return this.delivery.refuse(from, stanza, 'service-unavailable');
    if (to.local === local) {
      if (stanza.name === 'iq' && to.resource === undefined) return this.serverIqs.toServer(from, stanza);
      if (stanza.name === 'message' && to.resource === undefined && local.startsWith('#')) {
        return this.toAllRelated(from, stanza);
      }
      return this.toAccount(from, stanza, to);
    }
    return this.toRelated(from, stanza, to);
  }

  /**
   * To an account of another AS (clause 8.5): only between related accounts, as inside the AS; the other AS's
   * message server applies its own rules (access rights of its devices, offline storage) on arrival.
   */
  private async toOtherAs(from: C2sSession, stanza: Element, to: Jid): Promise<void> {
    if (!this.delivery.federated) return this.delivery.refuse(from, stanza, 'remote-server-not-found');
    if ((await this.blocklist.between(from.jid, to)) === 'sender') return this.refuseBlocked(from, stanza);
    if (to.local === undefined || !(await this.roster.related(from.jid.local!, bareString(to))))
      return this.delivery.refuse(from, stanza, 'service-unavailable');
    this.delivery.toOtherAs(stanza);
    if (stanza.name === 'message') this.carbons.sent(from, stanza);
  }

  // --- from other ASs (s2s) -------------------------------------------------------------------------------------------

  /** A stanza from an account (or the server) of another AS, its `from` domain authenticated by the s2s engine. */
  async incoming(stanza: Element, stream: S2sIncomingStream): Promise<void> {
    const fromJid = stanza.attrs.from === undefined ? undefined : parseJid(stanza.attrs.from);
    const to = stanza.attrs.to === undefined ? undefined : parseJid(stanza.attrs.to);
    if (!fromJid || !to || to.domain !== this.domain) return;
    const from = this.delivery.remoteOrigin(fromJid, stream);
    if (stanza.name === 'presence') return this.presence.directed(from, stanza, to);
    if (to.local === undefined) {
      if (to.resource === undefined && stanza.name === 'iq') return this.serverIqs.answerPublic(from, stanza);
      return this.delivery.refuse(from, stanza, 'service-unavailable');
    }
    if (!(await this.roster.accountExists(to.local)))
      return this.delivery.refuse(from, stanza, 'service-unavailable');
    // Errors from the other AS's server itself (e.g. a refusal there) reach the account they answer.
    if (fromJid.local === undefined) {
      if (stanza.attrs.type === 'error') return this.toAccount(from, stanza, to);
      return this.delivery.refuse(from, stanza, 'service-unavailable');
    }
    return this.toRelated(from, stanza, to);
  }

  /** The s2s engine could not deliver a stanza of a local session: the sender learns why (RFC 6120 §8.3.3). */
  bounced(stanza: Element, condition: 'remote-server-not-found' | 'remote-server-timeout'): void {
    const from = stanza.attrs.from === undefined ? undefined : parseJid(stanza.attrs.from);
    if (!from?.local || from.domain !== this.domain) return;
    const sessions =
      from.resource === undefined
        ? this.sessions.resources(from.local)
        : [this.sessions.resource(from.local, from.resource)].filter((s) => s !== undefined);
    // RFC 6120 §8.3.3.16: a timeout is worth retrying later (wait); a server not found is not (cancel).
    const type = condition === 'remote-server-timeout' ? 'wait' : 'cancel';
    for (const session of sessions) this.delivery.refuse(session, stanza, condition, type);
  }

  // --- delivery ----------------------------------------------------------------------------------------------------

  /**
   * To another account of this AS, from a local session or another AS: device management at a device's bare JID,
   * then the blocking rule and the device's access rights, then delivery.
   */
  private async toRelated(from: Origin, stanza: Element, to: Jid): Promise<void> {
    const target = to.local!;
    if (to.resource === undefined && target.startsWith('#') && isDeviceManagement(stanza))
      return this.serverIqs.onDeviceManagement(from, stanza, target);
    const sender = bareString(from.jid);
    // XEP-0191: the sender's own list first (§3.5), then the target's (§3.4: as if it were not there).
    const blocked = await this.blocklist.between(from.jid, to);
    if (blocked === 'sender') return this.refuseBlocked(from, stanza);
    if (blocked === 'target' || !(await this.roster.related(target, sender)))
      return this.delivery.refuse(from, stanza, 'service-unavailable');
    // An OSAP device's reported attributes are its reports, which every related account receives (§9, decision 0027).
    if (to.resource === undefined && target.startsWith('#') && isAttributesQuery(stanza))
      return answerAttributes(this.delivery, this.osapAttributes, from, stanza, target);
    if (
      !sender.startsWith('#') &&
      target.startsWith('#') &&
      isCommand(stanza) &&
      !(await this.access.mayCommand(target, sender))
    ) {
      return this.delivery.refuse(from, stanza, 'forbidden', 'auth', 'no right to send this device commands');
    }
    if (stanza.name === 'message') this.carbonCopies(from, stanza, to);
    // An operation to an OSAP device's bare JID goes to its DAS session (one of them, if it briefly has two).
    if (to.resource === undefined && isOperate(stanza)) {
      const resource = [
        ...this.sessions.resources(target).map((s) => s.jid.resource!),
        ...this.sessions.remote(target).map((r) => r.resource),
      ]
        .filter(isDasResource)
        .at(-1);
      if (resource !== undefined) return this.toAccount(from, stanza, { ...to, resource });
    }
    return this.toAccount(from, stanza, to);
  }

  /**
   * XEP-0280: a message between two accounts, let through: `<sent/>` to the sender's other resources when it is a
   * session of this server, `<received/>` to the recipient's other resources when it goes to one online resource.
   */
  private carbonCopies(from: Origin, stanza: Element, to: Jid): void {
    const session =
      from.jid.domain === this.domain && from.jid.resource !== undefined
        ? this.sessions.resource(from.jid.local!, from.jid.resource)
        : undefined;
    if (session === from) this.carbons.sent(session, stanza);
    if (to.resource !== undefined && this.delivery.recipient(to.local!, to.resource))
      this.carbons.received(to.local!, to.resource, stanza);
  }

  /** XEP-0191 §3.5: a stanza to a JID the sender's account blocks (answers and presence are dropped). */
  private refuseBlocked(from: Origin, stanza: Element): void {
    if (stanza.name === 'presence' || stanza.attrs.type === 'error' || stanza.attrs.type === 'result') return;
    from.send(blockedError(this.delivery, stanza));
  }

  /** To a local account: a full JID reaches that resource, a bare JID every resource. */
  private async toAccount(from: Origin, stanza: Element, to: Jid): Promise<void> {
    const local = to.local!;
    if (stanza.name === 'message') return void this.messageTo(from, local, to.resource, stanza);
    let targets: Recipient[];
    if (to.resource !== undefined) {
      const one = this.delivery.recipient(local, to.resource);
      targets = one ? [one] : [];
    } else if (stanza.name === 'iq') {
      // RFC 6121 §8.5.2: the server answers iqs to a bare JID on the account's behalf.
      targets = [];
    } else {
      targets = this.delivery.everywhere(local);
    }
    targets = targets.filter((s: Recipient | Origin) => s !== from);
    if (targets.length === 0) return this.delivery.refuse(from, stanza, 'service-unavailable');
    for (const target of targets) this.delivery.deliver(from, target, stanza);
  }

  /**
   * A message to one resource of a local account, or to all of them (`resource` undefined; RFC 6121 §8.5.3.2: also
   * when that resource is offline), wherever they are in the AS, the sending session excepted; stored offline when
   * the account has no session in the AS. Resolves with the refusal written in its place, if any: the sender's
   * answers wait until the message is stored or taken by every server it went to (decision 0024).
   */
  private messageTo(
    from: Origin | undefined,
    local: string,
    resource: string | undefined,
    stanza: Element,
  ): Promise<Element | undefined> {
    const oneHere = resource === undefined ? undefined : this.sessions.resource(local, resource);
    const oneThere =
      resource === undefined || oneHere || !this.bus
        ? undefined
        : this.sessions.remoteResource(local, resource);
    const whole = oneHere === undefined && oneThere === undefined;
    const here = (oneHere ? [oneHere] : whole ? this.sessions.resources(local) : []).filter(
      (s) => s !== from,
    );
    const there = new Map<string, string | undefined>();
    if (oneThere !== undefined) there.set(oneThere, resource);
    else if (whole && this.bus) for (const r of this.sessions.remote(local)) there.set(r.server, undefined);
    if (here.length === 0 && there.size === 0) {
      if (this.sessions.resources(local).length === 0) return this.inbox.store(from, stanza, local);
      if (from) this.delivery.refuse(from, stanza, 'service-unavailable');
      return Promise.resolve(undefined);
    }
    const live = here.length > 0 ? this.inbox.toResources(from, local, here, stanza) : undefined;
    if (there.size === 0) return live!;
    const relayed = Promise.all(
      [...there].map(([server, one]) => this.relayMessage(server, local, one, stanza)),
    ).then((answers) => {
      const refusal = answers.find((a) => a.refusal !== undefined)?.refusal;
      if (refusal !== undefined) return parseElement(refusal);
      // Nobody holds a session of it any more (servers gone, or the registry behind): as for an offline account.
      if (here.length === 0 && !answers.some((a) => a.taken))
        return this.inbox.store(undefined, stanza, local);
      return undefined;
    });
    from?.hold(relayed);
    return Promise.all([live, relayed]).then(([a, b]) => a ?? b);
  }

  /** A message relayed to another server of the AS; kept while it is written live there and not yet safe. */
  private async relayMessage(
    server: string,
    local: string,
    resource: string | undefined,
    stanza: Element,
  ): Promise<MessageAnswer> {
    const at = new Date();
    const { id, answer } = await this.bus!.message(server, { local, resource, stanza: stanza.toString() });
    if (answer.taken && answer.live) {
      this.inFlight.set(id, { server, local, stanza, at });
      const early = this.settledEarly.get(id);
      if (early !== undefined) {
        this.settledEarly.delete(id);
        this.settled(id, early);
      }
    }
    return answer;
  }

  /** The holder of a relayed message reports it safe with its recipient (ok), or its session ended first. */
  private settled(id: string, ok: boolean): void {
    const message = this.inFlight.get(id);
    if (!message) {
      // Its answer is still on the way (the settlement cannot be older: ids are fresh).
      if (this.settledEarly.size < 10_000) this.settledEarly.set(id, ok);
      return;
    }
    this.inFlight.delete(id);
    if (!ok) this.handBack(message);
  }

  /** A relayed message not safe with its recipient: stored offline, stamped with when it was relayed. */
  private handBack(message: { local: string; stanza: Element; at: Date }): void {
    void this.inbox
      .store(undefined, this.inbox.stamped(message.stanza, message.at), message.local)
      .then((refusal) => {
        if (refusal) this.logger.warn({ local: message.local }, 'relayed message not stored back');
      });
  }

  // --- from other message servers of the AS (decision 0024) --------------------------------------------------------

  /** A stanza, a probe or a message another message server of the AS relayed for the sessions here. */
  private async relayed(item: Relayed): Promise<MessageAnswer | undefined> {
    if (item.kind === 'probe') {
      this.presence.sendCurrent(this.roster.bare(item.of), item.to, true);
      return undefined;
    }
    if (item.kind === 'interested') {
      const stanza = parseRelayed(item.stanza);
      if (stanza) this.interests.here(item.local, item.interest, stanza, item.except);
      return undefined;
    }
    const stanza = parseRelayed(item.stanza);
    if (!stanza) return item.kind === 'message' ? { taken: false, live: false } : undefined;
    if (item.kind === 'stanza') {
      const one = item.resource === undefined ? undefined : this.sessions.resource(item.local, item.resource);
      const targets = one ? [one] : item.resource === undefined ? this.sessions.resources(item.local) : [];
      for (const target of targets) target.send(stanza);
      // The session went meanwhile: an iq is answered for it, as to an offline resource.
      if (targets.length === 0) {
        const sender = this.originOf(stanza);
        if (sender && stanza.name === 'iq') this.delivery.refuse(sender, stanza, 'service-unavailable');
      }
      return undefined;
    }
    const one = item.resource === undefined ? undefined : this.sessions.resource(item.local, item.resource);
    const targets = one ? [one] : item.resource === undefined ? this.sessions.resources(item.local) : [];
    if (targets.length === 0) return { taken: false, live: false };
    const confirmations: Promise<boolean>[] = [];
    const sender = this.originOf(stanza);
    const origin: Origin = {
      jid: sender?.jid ?? { local: undefined, domain: this.domain, resource: undefined },
      send: (reply) => sender?.send(reply) ?? true,
      pause: () => undefined,
      resume: () => undefined,
      // The refusal goes back in the answer, where the sender's server holds its answers.
      hold: () => undefined,
      confirm: (delivered) => void confirmations.push(delivered),
    };
    const refusal = await this.inbox.toResources(origin, item.local, targets, stanza);
    if (confirmations.length > 0)
      void Promise.all(confirmations).then((oks) => this.bus!.settle(item.from, item.id, oks.every(Boolean)));
    return { taken: true, live: confirmations.length > 0, refusal: refusal?.toString() };
  }

  /** Cache entries another message server of the AS (or this one) changed. */
  private changed(change: Changed, credentials: { drop(local: string): void }): void {
    this.roster.drop([...change.roster, ...change.removed]);
    this.blocklist.drop([...change.blocklist, ...change.removed]);
    for (const local of [...change.credentials, ...change.removed]) credentials.drop(local);
    for (const local of change.removed)
      for (const session of this.sessions.resources(local))
        session.close('not-authorized', 'account removed');
  }

  /**
   * Point-to-multipoint (14543-5-8 §11): a device's message to its own bare JID reaches every related user and
   * device in one stanza — each online resource at once, each offline account through offline storage, accounts of
   * other ASs through their message server — and its own other resources. Each copy is addressed to its
   * recipient's bare JID.
   */
  private async toAllRelated(from: C2sSession, stanza: Element): Promise<void> {
    const own = from.jid.local!;
    if (this.sessions.resources(own).length + this.sessions.remote(own).length > 1)
      void this.messageTo(from, own, undefined, stanza);
    for (const contact of await this.roster.relatedContacts(own)) {
      if (await this.blocklist.between(from.jid, contact)) continue;
      const copy = stanza.clone();
      copy.attrs.to = contact;
      const local = this.roster.local(contact);
      if (local === undefined) {
        this.delivery.toOtherAs(copy);
        continue;
      }
      void this.messageTo(from, local, undefined, copy);
    }
  }

  /**
   * Clause 8.3.1: a message from a user or device to an application server's address becomes Message 8 or 9, its
   * `<body>` the `data`. Only messages carry uploads; an iq to the application server is answered by us when it is
   * discovery (the server's disco#items lists these addresses, XEP-0030), service-unavailable otherwise.
   */
  private async toApplicationServer(from: C2sSession, stanza: Element, jid: string): Promise<void> {
    if (stanza.name === 'iq') return this.serverIqs.answerForApplicationServer(from, stanza, jid);
    if (stanza.name !== 'message') return this.delivery.refuse(from, stanza, 'service-unavailable');
    if (stanza.attrs.type === 'error') return;
    const data = stanza.getChildText('body');
    if (!data || data.length > MAX_DATA_LENGTH) {
      from.send(
        this.delivery.errorReply(
          stanza,
          'modify',
          'bad-request',
          `an upload needs a <body> of 1 to ${MAX_DATA_LENGTH} characters`,
        ),
      );
      return;
    }
    await this.notifications.upload(jid, from.jid.local!, data);
  }
}

/** A relayed stanza's text: one message, presence or iq, or undefined. */
function parseRelayed(text: string): Element | undefined {
  try {
    const stanza = parseElement(text);
    return ['message', 'presence', 'iq'].includes(stanza.name) ? stanza : undefined;
  } catch {
    return undefined;
  }
}

/** Messages a resource gets when sent to its account's bare JID (not errors or groupchat). */
const isLive = (stanza: Element): boolean => !['error', 'groupchat'].includes(stanza.attrs.type ?? 'normal');
