/**
 * The IRSP rules on top of the XMPP engine (14543-5-9 clauses 7.2 and 8.5, 14543-5-8 §8–13), for stanzas from local
 * sessions (c2s) and from other ASs (s2s):
 * - sessions bound per full JID (an older one is closed with `conflict`), several resources per account;
 * - relationships and presence (presence.ts), the server's own iqs and device management (server-iqs.ts);
 * - blocking (clause 7.2 b–d): messages and iqs between users and devices that are not related are not
 *   delivered, the sender gets `service-unavailable`; the server's own address and its AS's application servers
 *   are exempt — the same rule holds across ASs, checked on both sides;
 * - device access rights (§9): a user sends a device commands only as its owner or with the owner's grant;
 * - offline storage (XEP-0160): a message to a related account with no online resource is stored and delivered
 *   with an XEP-0203 delay stamp when it next sends initial presence;
 * - uploads to application servers become Messages 8/9, device status Messages 10/11 (notifications.ts), written
 *   with the AS's record of who is online where (online-sessions.ts), which also reports sessions lost in a crash.
 */
import type { GuessLimits, GuessPolicy } from '@irsp/credentials';
import type { Logger } from '@irsp/http';
import { MAX_DATA_LENGTH } from '@irsp/protocol';
import type { Db } from '@irsp/store';
import {
  bareString,
  jidToString,
  parseJid,
  xml,
  type C2sRouter,
  type C2sSession,
  Element,
  type Jid,
  type S2sIncomingStream,
} from '@irsp/xmpp';
import type { Notifications } from '../notifications.js';
import type { OnlineSessions, SessionHooks, SessionKey } from '../online-sessions.js';
import { AccessRights } from './access.js';
import { Delivery, isCommand, type Origin, type OtherAses } from './delivery.js';
import { Inbox } from './inbox.js';
import type { OfflineStore } from './offline.js';
import { Presence } from './presence.js';
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
  private readonly delivery: Delivery;
  private readonly presence: Presence;
  private readonly serverIqs: ServerIqs;
  private readonly inbox: Inbox;
  private online: OnlineSessions | undefined;

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
    this.delivery = new Delivery(domain, this.sessions, this.roster, logger);
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
        this.inbox,
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
      logger,
    );
  }

  /** Records sessions in the AS's table of who is online where (Messages 10–11 come from there). */
  trackSessions(online: OnlineSessions): void {
    this.online = online;
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
  }

  /**
   * XEP-0198 §5: a session with stream management ended without being resumed. What its client did not acknowledge
   * is handled as if it had been sent to a resource that is gone (RFC 6121 §8.5.3.2): a message to that full JID
   * goes to the account's other online resources (not back to the one that sent it), one to the bare JID had
   * reached them already; with none online, messages are stored offline (XEP-0160: normal and chat), stamped
   * (XEP-0203) with the time the server had them — or keeping the stamp of an earlier storage; iq requests are
   * answered to their senders with service-unavailable, presence and everything else is dropped. Handed over before
   * unbound().
   */
  unacknowledged(session: C2sSession, stanzas: Element[], sentAt: Date[]): void {
    const owner = session.jid.local!;
    for (const [i, stanza] of stanzas.entries()) {
      if (stanza.name === 'message') {
        const delayed = this.inbox.stamped(stanza, sentAt[i] ?? new Date());
        const others = this.sessions
          .resources(owner)
          // Not one replacing it (same resource, its bind not yet answered): that one gets them from storage.
          .filter(
            (other) => !sameJid(other.jid, session.jid) && jidToString(other.jid) !== stanza.attrs.from,
          );
        if (others.length === 0) void this.inbox.store(this.originOf(stanza), delayed, owner);
        else if (parseJid(stanza.attrs.to ?? '')?.resource !== undefined && isLive(stanza))
          void this.inbox.toResources(this.originOf(stanza), owner, others, delayed);
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
   * Who sent a stanza that went to a local session, to answer it: a local session (by full JID, or every resource
   * of a bare one) or an account of another AS; undefined for the server's own stanzas and unknown senders.
   */
  private originOf(stanza: Element): Origin | undefined {
    const from = stanza.attrs.from === undefined ? undefined : parseJid(stanza.attrs.from);
    if (from?.local === undefined) return undefined;
    if (from.domain !== this.domain)
      return this.delivery.federated ? this.delivery.remoteSender(from) : undefined;
    const local = from.local;
    const send = (reply: Element): boolean => {
      const targets =
        from.resource === undefined
          ? this.sessions.resources(local)
          : [this.sessions.resource(local, from.resource)].filter((s) => s !== undefined);
      for (const target of targets) target.send(reply);
      return true;
    };
    return {
      jid: from,
      send,
      pause: () => undefined,
      resume: () => undefined,
      // Nothing of the sender's is read here to answer after it: a refusal is sent once known.
      hold: (durable) => void durable.then((refusal) => refusal instanceof Element && send(refusal)),
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
    this.delivery.pushChanges(await this.roster.forget(local));
    const own = this.roster.bare(local);
    for (const contact of related) {
      if (this.roster.local(contact) !== undefined) continue;
      this.delivery.toOtherAs(xml('presence', { type: 'unsubscribe', from: own, to: contact }));
      this.delivery.toOtherAs(xml('presence', { type: 'unsubscribed', from: own, to: contact }));
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
    const targets = this.sessions.resources(local);
    if (targets.length === 0) return (await this.inbox.store(undefined, stanza, local)) ? 'full' : 'stored';
    // Live, or stored behind messages that wait for the account.
    return (await this.inbox.toResources(undefined, local, targets, stanza)) ? 'full' : 'delivered';
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
    if (to.local === undefined || !(await this.roster.related(from.jid.local!, bareString(to))))
      return this.delivery.refuse(from, stanza, 'service-unavailable');
    this.delivery.toOtherAs(stanza);
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
    if (!(await this.roster.related(target, sender)))
      return this.delivery.refuse(from, stanza, 'service-unavailable');
    if (
      !sender.startsWith('#') &&
      target.startsWith('#') &&
      isCommand(stanza) &&
      !(await this.access.mayCommand(target, sender))
    ) {
      return this.delivery.refuse(from, stanza, 'forbidden', 'auth', 'no right to send this device commands');
    }
    return this.toAccount(from, stanza, to);
  }

  /** To a local account: a full JID reaches that resource, a bare JID every resource. */
  private async toAccount(from: Origin, stanza: Element, to: Jid): Promise<void> {
    const local = to.local!;
    let targets: C2sSession[];
    if (to.resource !== undefined) {
      const one = this.sessions.resource(local, to.resource);
      // RFC 6121 §8.5.3.2: a message to an offline resource is handled as if sent to the bare JID.
      targets = one ? [one] : stanza.name === 'message' ? this.sessions.resources(local) : [];
    } else if (stanza.name === 'iq') {
      // RFC 6121 §8.5.2: the server answers iqs to a bare JID on the account's behalf.
      targets = [];
    } else {
      targets = this.sessions.resources(local);
    }
    targets = targets.filter((s) => s !== from);
    if (targets.length === 0) {
      if (stanza.name === 'message' && this.sessions.resources(local).length === 0)
        return void this.inbox.store(from, stanza, local);
      return this.delivery.refuse(from, stanza, 'service-unavailable');
    }
    if (stanza.name === 'message') return void this.inbox.toResources(from, local, targets, stanza);
    for (const target of targets) this.delivery.deliver(from, target, stanza);
  }

  /**
   * Point-to-multipoint (14543-5-8 §11): a device's message to its own bare JID reaches every related user and
   * device in one stanza — each online resource at once, each offline account through offline storage, accounts of
   * other ASs through their message server — and its own other resources. Each copy is addressed to its
   * recipient's bare JID.
   */
  private async toAllRelated(from: C2sSession, stanza: Element): Promise<void> {
    const own = from.jid.local!;
    const others = this.sessions.resources(own).filter((other) => other !== from);
    if (others.length > 0) void this.inbox.toResources(from, own, others, stanza);
    for (const contact of await this.roster.relatedContacts(own)) {
      const copy = stanza.clone();
      copy.attrs.to = contact;
      const local = this.roster.local(contact);
      if (local === undefined) {
        this.delivery.toOtherAs(copy);
        continue;
      }
      const targets = this.sessions.resources(local);
      if (targets.length === 0) void this.inbox.store(from, copy, local);
      else void this.inbox.toResources(from, local, targets, copy);
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

const sameJid = (a: Jid, b: Jid): boolean => jidToString(a) === jidToString(b);

/** Messages a resource gets when sent to its account's bare JID (not errors or groupchat). */
const isLive = (stanza: Element): boolean => !['error', 'groupchat'].includes(stanza.attrs.type ?? 'normal');
