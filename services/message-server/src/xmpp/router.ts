/**
 * The IRSP rules on top of the XMPP engine (14543-5-9 clause 7.2, 14543-5-8 §8–13):
 * - sessions bound per full JID (an older one is closed with `conflict`), several resources per account;
 * - relationships (§10) as rosters: a subscription request waits for the target's approval, or is approved at
 *   once when a user presents a device's verification code; release by either side removes both directions;
 * - presence (§13 online status) goes to related users and devices only;
 * - blocking (clause 7.2 b–d): messages and iqs between users and devices that are not related are not
 *   delivered, the sender gets `service-unavailable`; the server's own address is exempt.
 * - offline storage (XEP-0160): a message to a related account with no online resource is stored and delivered
 *   with an XEP-0203 delay stamp when it next sends initial presence.
 * - device access rights (§9): a user sends a device commands (messages, iq get/set) only as its owner or with the
 *   owner's grant (access.ts); the owner manages them with `urn:irsp:access:0` iqs to the server.
 * Not yet: other ASs.
 */
import { verifyPassword } from '@irsp/credentials';
import type { Logger } from '@irsp/http';
import type { Db } from '@irsp/store';
import {
  NS,
  jidToString,
  parseJid,
  stanzaError,
  xml,
  type C2sRouter,
  type C2sSession,
  type Element,
  type Jid,
  type StanzaErrorCondition,
  parseElement,
} from '@irsp/xmpp';
import type { Notifications } from '../notifications.js';
import { AccessRights } from './access.js';
import type { OfflineStore } from './offline.js';
import { RosterStore, type RosterChange } from './roster.js';
import { MAX_DATA_LENGTH } from '@irsp/protocol';
import { SessionRegistry } from './sessions.js';

const DISCO_INFO = 'http://jabber.org/protocol/disco#info';
const DISCO_ITEMS = 'http://jabber.org/protocol/disco#items';
const ROSTER = 'jabber:iq:roster';
/** Our extension: a user presents a device's verification code in its subscription request (docs/client-protocol.md). */
export const VERIFY_CODE_NS = 'urn:irsp:verifycode:0';
/** Our extension: a device owner reads and changes the device's access rights (docs/client-protocol.md). */
export const ACCESS_NS = 'urn:irsp:access:0';

interface SessionState {
  /** The last available presence broadcast by the session, if any. */
  presence: Element | undefined;
}

export class MessageRouter implements C2sRouter {
  readonly sessions = new SessionRegistry();
  readonly roster: RosterStore;
  readonly access: AccessRights;
  private readonly state = new WeakMap<C2sSession, SessionState>();
  private pushId = 0;

  constructor(
    private readonly domain: string,
    db: Db,
    private readonly offline: OfflineStore,
    private readonly notifications: Notifications,
    /** Stores a device's new verification code and sends Message 7 (verify-code.ts). */
    private readonly resetVerifyCode: (device: string, code: string) => Promise<200 | 422>,
    private readonly logger: Logger,
  ) {
    this.roster = new RosterStore(db, domain);
    this.access = new AccessRights(db);
  }

  // --- sessions ------------------------------------------------------------------------------------------------------

  async bound(session: C2sSession): Promise<void> {
    const local = session.jid.local!;
    const firstResource = this.sessions.resources(local).length === 0;
    const previous = this.sessions.add(session);
    this.state.set(session, { presence: undefined });
    if (previous) previous.close('conflict', 'replaced by a new connection with the same resource');
    this.logger.info({ jid: jidToString(session.jid) }, 'online');
    // Message 10, written before the device learns it is bound.
    if (firstResource && local.startsWith('#')) await this.notifications.deviceStatus(local, true);
  }

  unbound(session: C2sSession): void {
    this.sessions.remove(session);
    const local = session.jid.local!;
    if (local.startsWith('#') && this.sessions.resources(local).length === 0) {
      // Message 11 when the device's last resource has gone.
      this.notifications
        .deviceStatus(local, false)
        .catch((error: unknown) =>
          this.logger.error({ err: error, device: local }, 'offline notification not written'),
        );
    }
    if (this.state.get(session)?.presence) {
      void this.broadcastPresence(session, xml('presence', { type: 'unavailable' })).catch((error: unknown) =>
        this.logger.error({ err: error }, 'unavailable presence not broadcast'),
      );
    }
    this.logger.info({ jid: jidToString(session.jid) }, 'offline');
  }

  /** An account removed by Message 5/6: logged out everywhere and gone from every roster. */
  async accountRemoved(local: string): Promise<void> {
    for (const session of this.sessions.resources(local)) session.close('not-authorized', 'account removed');
    this.pushChanges(await this.roster.forget(local));
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
      { from: fromJid, to: this.roster.bare(local), type: 'normal', id: `push-${++this.pushId}` },
      xml('body', {}, data),
    );
    const targets = this.sessions.resources(local);
    if (targets.length === 0) return (await this.offline.store(local, stanza.toString())) ? 'stored' : 'full';
    for (const target of targets) target.send(stanza);
    return 'delivered';
  }

  // --- routing ---------------------------------------------------------------------------------------------------------

  async route(from: C2sSession, stanza: Element): Promise<void> {
    const to = stanza.attrs.to === undefined ? undefined : parseJid(stanza.attrs.to);
    const local = from.jid.local!;
    if (stanza.name === 'presence') return this.onPresence(from, stanza, to);
    if (!to || (to.local === undefined && to.domain === this.domain && to.resource === undefined)) {
      return this.toServer(from, stanza);
    }
    if (
      to.local === undefined &&
      to.resource === undefined &&
      this.notifications.isApplicationServer(to.domain)
    ) {
      return this.toApplicationServer(from, stanza, to.domain);
    }
    if (to.domain !== this.domain) return this.refuse(from, stanza, 'remote-server-not-found');
    if (to.local === undefined) return this.refuse(from, stanza, 'service-unavailable');
    if (to.local === local) {
      if (stanza.name === 'iq' && to.resource === undefined) return this.toServer(from, stanza);
      if (stanza.name === 'message' && to.resource === undefined && local.startsWith('#')) {
        return this.toAllRelated(from, stanza);
      }
      return this.toAccount(from, stanza, to);
    }
    if (!(await this.roster.related(local, to.local)))
      return this.refuse(from, stanza, 'service-unavailable');
    if (
      !local.startsWith('#') &&
      to.local.startsWith('#') &&
      isCommand(stanza) &&
      !(await this.access.mayCommand(to.local, this.roster.bare(local)))
    ) {
      from.send(this.errorReply(stanza, 'auth', 'forbidden', 'no right to send this device commands'));
      return;
    }
    return this.toAccount(from, stanza, to);
  }

  /** To a related (or one's own) account: a full JID reaches that resource, a bare JID every resource. */
  private async toAccount(from: C2sSession, stanza: Element, to: Jid): Promise<void> {
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
        return this.storeOffline(from, stanza, local);
      return this.refuse(from, stanza, 'service-unavailable');
    }
    for (const target of targets) this.deliver(from, target, stanza);
  }

  /**
   * Point-to-multipoint (14543-5-8 §11): a device's message to its own bare JID reaches every related user and
   * device in one stanza — each online resource at once, each offline account through offline storage — and its
   * own other resources. Each copy is addressed to its recipient's bare JID.
   */
  private async toAllRelated(from: C2sSession, stanza: Element): Promise<void> {
    const own = from.jid.local!;
    for (const other of this.sessions.resources(own)) if (other !== from) this.deliver(from, other, stanza);
    for (const local of await this.roster.relatedLocals(own)) {
      const copy = stanza.clone();
      copy.attrs.to = this.roster.bare(local);
      const targets = this.sessions.resources(local);
      if (targets.length === 0) await this.storeOffline(from, copy, local);
      for (const target of targets) this.deliver(from, target, copy);
    }
  }

  /**
   * Clause 8.3.1: a message from a user or device to an application server's address becomes Message 8 or 9, its
   * `<body>` the `data`. Only messages carry uploads; an iq to the application server gets service-unavailable.
   */
  private async toApplicationServer(from: C2sSession, stanza: Element, jid: string): Promise<void> {
    if (stanza.name !== 'message') return this.refuse(from, stanza, 'service-unavailable');
    if (stanza.attrs.type === 'error') return;
    const data = stanza.getChildText('body');
    if (!data || data.length > MAX_DATA_LENGTH) {
      from.send(
        this.errorReply(
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

  /** XEP-0160 §3: normal and chat messages are kept; groupchat, headline and error messages are not. */
  private async storeOffline(from: C2sSession, stanza: Element, owner: string): Promise<void> {
    const type = stanza.attrs.type ?? 'normal';
    if (type !== 'normal' && type !== 'chat') return;
    if (await this.offline.store(owner, stanza.toString())) return;
    from.send(
      this.errorReply(stanza, 'wait', 'resource-constraint', 'offline storage of the recipient is full'),
    );
  }

  /** Stored messages, oldest first, each with its XEP-0203 delay stamp; removed once written. */
  private async deliverOffline(session: C2sSession): Promise<void> {
    const stored = await this.offline.pending(session.jid.local!);
    const sent: string[] = [];
    for (const message of stored) {
      const stanza = parseElement(message.stanza);
      stanza.append(
        xml(
          'delay',
          { xmlns: 'urn:xmpp:delay', from: this.domain, stamp: message.storedAt.toISOString() },
          'Offline Storage',
        ),
      );
      session.send(stanza);
      sent.push(message.id);
    }
    await this.offline.delivered(sent);
  }

  private toServer(from: C2sSession, stanza: Element): Promise<void> | void {
    if (stanza.name !== 'iq') return;
    const type = stanza.attrs.type;
    if (type === 'result' || type === 'error') return;
    const payload = stanza.getChildElements()[0];
    if (payload?.name === 'query' && payload.xmlns === ROSTER) return this.onRosterIq(from, stanza, payload);
    if (type === 'set' && payload?.name === 'verifycode' && payload.xmlns === VERIFY_CODE_NS) {
      return this.onVerifyCodeReset(from, stanza, payload);
    }
    if (payload?.name === 'access' && payload.xmlns === ACCESS_NS)
      return this.onAccessIq(from, stanza, payload);
    if (type === 'get' && payload?.name === 'query' && payload.xmlns === DISCO_ITEMS && !payload.attrs.node) {
      // XEP-0030 §4: the application servers of the AS are the server's items.
      from.send(
        this.result(stanza).append(
          xml(
            'query',
            { xmlns: DISCO_ITEMS },
            ...this.notifications.applicationServerItems().map((item) => xml('item', item)),
          ),
        ),
      );
      return;
    }
    if (type === 'get' && payload?.name === 'ping' && payload.xmlns === NS.ping) {
      from.send(this.result(stanza));
      return;
    }
    if (type === 'get' && payload?.name === 'query' && payload.xmlns === DISCO_INFO && !payload.attrs.node) {
      from.send(
        this.result(stanza).append(
          xml(
            'query',
            { xmlns: DISCO_INFO },
            xml('identity', { category: 'server', type: 'im', name: 'IRSP message server' }),
            xml('feature', { var: DISCO_INFO }),
            xml('feature', { var: DISCO_ITEMS }),
            xml('feature', { var: NS.ping }),
            xml('feature', { var: ROSTER }),
            xml('feature', { var: VERIFY_CODE_NS }),
            xml('feature', { var: ACCESS_NS }),
          ),
        ),
      );
      return;
    }
    this.refuse(from, stanza, 'service-unavailable');
  }

  private result(stanza: Element): Element {
    return xml('iq', { type: 'result', id: stanza.attrs.id, from: stanza.attrs.to, to: stanza.attrs.from });
  }

  // --- rosters (RFC 6121 §2) ------------------------------------------------------------------------------------------

  private async onRosterIq(from: C2sSession, stanza: Element, query: Element): Promise<void> {
    const owner = from.jid.local!;
    if (stanza.attrs.type === 'get') {
      const items = await this.roster.list(owner);
      from.send(
        this.result(stanza).append(xml('query', { xmlns: ROSTER }, ...items.map((i) => this.itemElement(i)))),
      );
      // Requests that waited while the account was offline (RFC 6121 §3.1.3).
      for (const requester of await this.roster.pendingRequests(owner)) {
        from.send(xml('presence', { type: 'subscribe', from: requester, to: this.roster.bare(owner) }));
      }
      return;
    }
    const items = query.getChildren('item');
    const item = items[0];
    const contact = item?.attrs.jid === undefined ? undefined : parseJid(item.attrs.jid);
    if (items.length !== 1 || !contact || contact.resource !== undefined) {
      from.send(this.errorReply(stanza, 'modify', 'bad-request'));
      return;
    }
    const contactBare = jidToString(contact);
    if (item!.attrs.subscription === 'remove') {
      if (contact.domain === this.domain && contact.local !== undefined) {
        const changes = await this.roster.release(owner, contact.local);
        if (changes.length === 0) {
          from.send(this.errorReply(stanza, 'cancel', 'item-not-found'));
          return;
        }
        from.send(this.result(stanza));
        this.pushChanges(changes);
        this.exchangeUnavailable(owner, contact.local);
      } else {
        from.send(this.errorReply(stanza, 'cancel', 'item-not-found'));
      }
      return;
    }
    const groups = item!.getChildren('group').map((g) => g.text());
    if (new Set(groups).size !== groups.length || groups.some((g) => g.length === 0 || g.length > 1024)) {
      from.send(this.errorReply(stanza, 'modify', 'bad-request'));
      return;
    }
    from.send(this.result(stanza));
    this.pushChanges(await this.roster.setItem(owner, contactBare, item!.attrs.name ?? null, groups));
  }

  private itemElement(item: RosterChange['item']): Element {
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

  /** Roster pushes to every online resource of each owner (RFC 6121 §2.1.6). */
  private pushChanges(changes: RosterChange[]): void {
    for (const change of changes) {
      for (const session of this.sessions.resources(change.owner)) {
        session.send(
          xml(
            'iq',
            { type: 'set', id: `push-${++this.pushId}`, to: jidToString(session.jid) },
            xml('query', { xmlns: ROSTER }, this.itemElement(change.item)),
          ),
        );
      }
    }
  }

  /**
   * 14543-5-8 §10.5: a device resets its own verification code, or its owner (§9) resets it by naming the device
   * (empty = none); the message server stores it and synchronises it to the account server with Message 7.
   */
  private async onVerifyCodeReset(from: C2sSession, stanza: Element, payload: Element): Promise<void> {
    const device = await this.managedDevice(from, stanza, payload, 'resets its verification code');
    if (device === undefined) return;
    const code = payload.text();
    if (code.length > 256 || /\p{Cc}/u.test(code)) {
      from.send(
        this.errorReply(
          stanza,
          'modify',
          'bad-request',
          'verification code too long or with control characters',
        ),
      );
      return;
    }
    const status = await this.resetVerifyCode(device, code);
    from.send(status === 200 ? this.result(stanza) : this.errorReply(stanza, 'cancel', 'item-not-found'));
  }

  /**
   * The device an owner-or-device request is about: the sender itself when it is a device and names none, else the
   * device in the `device` attribute, which only its owner may manage. Answers the error and returns undefined
   * otherwise.
   */
  private async managedDevice(
    from: C2sSession,
    stanza: Element,
    payload: Element,
    what: string,
  ): Promise<string | undefined> {
    const self = from.jid.local!;
    const named = payload.attrs.device;
    if (named === undefined) {
      if (self.startsWith('#')) return self;
      from.send(this.errorReply(stanza, 'modify', 'bad-request', 'name the device in the device attribute'));
      return undefined;
    }
    const jid = parseJid(named);
    if (!jid || jid.resource !== undefined || jid.local === undefined || !jid.local.startsWith('#')) {
      from.send(
        this.errorReply(stanza, 'modify', 'jid-malformed', 'device must be the bare JID of a device'),
      );
      return undefined;
    }
    const device = jid.local;
    if (jid.domain !== this.domain || !(await this.roster.accountExists(device))) {
      from.send(this.errorReply(stanza, 'cancel', 'item-not-found', 'no such device in this AS'));
      return undefined;
    }
    if (device === self || (await this.access.owner(device)) === this.roster.bare(self)) return device;
    from.send(this.errorReply(stanza, 'auth', 'forbidden', `only the device or its owner ${what}`));
    return undefined;
  }

  /**
   * 14543-5-8 §9: `get` lists the owner and the users granted the command right; `set` grants (`<grant jid/>`),
   * withdraws (`<revoke jid/>`) or hands the device over (`<owner jid/>`) — by the owner or the device, for users
   * bound to the device only, all or none.
   */
  private async onAccessIq(from: C2sSession, stanza: Element, payload: Element): Promise<void> {
    const device = await this.managedDevice(from, stanza, payload, 'manages its access rights');
    if (device === undefined) return;
    if (stanza.attrs.type === 'get') {
      const { owner, granted } = await this.access.describe(device);
      from.send(
        this.result(stanza).append(
          xml(
            'access',
            { xmlns: ACCESS_NS, device: this.roster.bare(device), owner },
            ...granted.map((jid) => xml('user', { jid })),
          ),
        ),
      );
      return;
    }
    // The owner, or the device itself (a device whose owner has gone names a new one).
    const requester = this.roster.bare(from.jid.local!);
    const owner = await this.access.owner(device);
    if (owner !== requester && device !== from.jid.local) {
      from.send(this.errorReply(stanza, 'auth', 'forbidden', 'only the owner changes access rights'));
      return;
    }
    const change = {
      grant: [] as string[],
      revoke: [] as string[],
      newOwner: undefined as string | undefined,
    };
    const children = payload.getChildElements();
    for (const child of children) {
      const user = child.attrs.jid === undefined ? undefined : parseJid(child.attrs.jid);
      const list =
        child.name === 'grant' ? change.grant : child.name === 'revoke' ? change.revoke : undefined;
      if (
        !user ||
        user.resource !== undefined ||
        (list === undefined && (child.name !== 'owner' || change.newOwner !== undefined))
      ) {
        from.send(
          this.errorReply(
            stanza,
            'modify',
            'bad-request',
            'expected grant, revoke or one owner, each with a bare jid',
          ),
        );
        return;
      }
      if (
        user.domain !== this.domain ||
        user.local === undefined ||
        user.local.startsWith('#') ||
        !(await this.roster.related(device, user.local))
      ) {
        from.send(
          this.errorReply(
            stanza,
            'cancel',
            'item-not-found',
            `${jidToString(user)} is not a user bound to the device`,
          ),
        );
        return;
      }
      if (list) list.push(jidToString(user));
      else change.newOwner = jidToString(user);
    }
    if (children.length === 0) {
      from.send(this.errorReply(stanza, 'modify', 'bad-request', 'nothing to change'));
      return;
    }
    if (!(await this.access.change(device, owner, change))) {
      from.send(this.errorReply(stanza, 'wait', 'conflict', 'the owner changed meanwhile; try again'));
      return;
    }
    from.send(this.result(stanza));
    this.logger.info(
      { device, grant: change.grant, revoke: change.revoke, owner: change.newOwner },
      'access rights changed',
    );
  }

  // --- presence and subscriptions (RFC 6121 §3–4) ------------------------------------------------------------------------

  private async onPresence(from: C2sSession, stanza: Element, to: Jid | undefined): Promise<void> {
    const type = stanza.attrs.type;
    const owner = from.jid.local!;
    if (to === undefined) {
      if (type === undefined || type === 'unavailable') return this.onOwnPresence(from, stanza);
      return; // RFC 6121 §4.7.1: other types without a `to` are ignored
    }
    if (to.domain !== this.domain || to.local === undefined || to.local === owner) return;
    const target = to.local;
    switch (type) {
      case 'subscribe':
        return this.onSubscribe(from, stanza, target);
      case 'subscribed':
        if (await this.roster.hasRequest(owner, target)) return this.relate(owner, target);
        return;
      case 'unsubscribed':
        this.pushChanges(await this.roster.deny(owner, target));
        this.deliverToAll(
          target,
          xml('presence', {
            type: 'unsubscribed',
            from: this.roster.bare(owner),
            to: this.roster.bare(target),
          }),
        );
        return;
      case 'unsubscribe': {
        const changes = await this.roster.release(owner, target);
        this.pushChanges(changes);
        if (changes.length > 0) this.exchangeUnavailable(owner, target);
        return;
      }
      case undefined:
      case 'unavailable':
        // Directed presence reaches related accounts only.
        if (await this.roster.related(owner, target)) this.deliverToAll(target, stanza);
        return;
      default:
        return; // probes and errors from clients are not forwarded
    }
  }

  private async onSubscribe(from: C2sSession, stanza: Element, target: string): Promise<void> {
    const owner = from.jid.local!;
    if (!(await this.roster.accountExists(target))) {
      from.send(this.errorReply(stanza, 'cancel', 'item-not-found'));
      return;
    }
    if (await this.roster.related(owner, target)) {
      from.send(
        xml('presence', { type: 'subscribed', from: this.roster.bare(target), to: this.roster.bare(owner) }),
      );
      return;
    }
    const code = stanza.getChild('verifycode', VERIFY_CODE_NS);
    if (code) {
      // 14543-5-8 §10: a user who presents the device's verification code binds it without its approval.
      const hash =
        target.startsWith('#') && !owner.startsWith('#')
          ? await this.roster.verifyCodeHash(target)
          : undefined;
      if (!hash || !(await verifyPassword(code.text(), hash))) {
        this.logger.info({ owner, target }, 'wrong verification code');
        from.send(this.errorReply(stanza, 'auth', 'not-authorized'));
        return;
      }
      return this.relate(target, owner);
    }
    // A request waiting for the target's approval, delivered now to its online resources and at each login.
    this.pushChanges(await this.roster.request(owner, target));
    // A request the other side already made is answered by this one: both want the relationship.
    if (await this.roster.hasRequest(owner, target)) return this.relate(owner, target);
    this.deliverToAll(
      target,
      xml('presence', { type: 'subscribe', from: this.roster.bare(owner), to: this.roster.bare(target) }),
    );
  }

  /** `approver` approves `requester` (or the verification code does): the relationship exists both ways. */
  private async relate(approver: string, requester: string): Promise<void> {
    this.pushChanges(await this.roster.establish(approver, requester));
    this.deliverToAll(
      requester,
      xml('presence', {
        type: 'subscribed',
        from: this.roster.bare(approver),
        to: this.roster.bare(requester),
      }),
    );
    this.deliverToAll(
      approver,
      xml('presence', {
        type: 'subscribed',
        from: this.roster.bare(requester),
        to: this.roster.bare(approver),
      }),
    );
    // Each side now sees the other's current presence.
    this.sendCurrentPresence(approver, requester);
    this.sendCurrentPresence(requester, approver);
  }

  private async onOwnPresence(from: C2sSession, stanza: Element): Promise<void> {
    const state = this.state.get(from);
    if (!state) return;
    const first = state.presence === undefined;
    if (stanza.attrs.type === 'unavailable') {
      if (first) return;
      state.presence = undefined;
    } else {
      state.presence = stanza;
    }
    await this.broadcastPresence(from, stanza);
    // RFC 6121 §4.2.2: initial presence brings the contacts' current presence (local probe), then what was
    // stored while the account was offline (XEP-0160 §4).
    if (first && stanza.attrs.type === undefined) {
      for (const contact of await this.roster.relatedLocals(from.jid.local!))
        this.sendCurrentPresence(contact, from.jid.local!, from);
      for (const other of this.sessions.resources(from.jid.local!)) {
        const presence = this.state.get(other)?.presence;
        if (other !== from && presence) from.send(this.stamped(presence, other, jidToString(from.jid)));
      }
      await this.deliverOffline(from);
    }
  }

  /** A session's presence to its own other resources and to every online resource of related accounts. */
  private async broadcastPresence(from: C2sSession, stanza: Element): Promise<void> {
    const recipients = [
      ...this.sessions.resources(from.jid.local!).filter((s) => s !== from),
      ...(await this.roster.relatedLocals(from.jid.local!)).flatMap((local) =>
        this.sessions.resources(local),
      ),
    ];
    for (const recipient of recipients)
      this.deliver(from, recipient, this.stamped(stanza, from, jidToString(recipient.jid)));
  }

  /** The current presence of every online resource of `of`, sent to `to` (one session or all of them). */
  private sendCurrentPresence(of: string, to: string, only?: C2sSession): void {
    const recipients = only ? [only] : this.sessions.resources(to);
    for (const source of this.sessions.resources(of)) {
      const presence = this.state.get(source)?.presence;
      if (!presence) continue;
      for (const recipient of recipients)
        recipient.send(this.stamped(presence, source, jidToString(recipient.jid)));
    }
  }

  /** After a release, each side sees the other go offline. */
  private exchangeUnavailable(a: string, b: string): void {
    for (const [of, to] of [
      [a, b],
      [b, a],
    ] as const) {
      for (const source of this.sessions.resources(of)) {
        if (!this.state.get(source)?.presence) continue;
        this.deliverToAll(
          to,
          xml('presence', { type: 'unavailable', from: jidToString(source.jid), to: this.roster.bare(to) }),
        );
      }
    }
  }

  private stamped(presence: Element, from: C2sSession, to: string): Element {
    const copy = presence.clone();
    copy.attrs.from = jidToString(from.jid);
    copy.attrs.to = to;
    return copy;
  }

  private deliverToAll(local: string, stanza: Element): void {
    for (const session of this.sessions.resources(local)) session.send(stanza);
  }

  /** Writes to the recipient; a recipient that cannot keep up pauses the sender (back-pressure). */
  private deliver(from: C2sSession, to: C2sSession, stanza: Element): void {
    if (!to.send(stanza)) {
      from.pause();
      void to.writable().then(() => from.resume());
    }
  }

  private errorReply(
    stanza: Element,
    type: 'auth' | 'cancel' | 'modify' | 'wait',
    condition: StanzaErrorCondition,
    text?: string,
  ): Element {
    const reply = stanzaError(stanza, type, condition, text);
    reply.attrs.from = stanza.attrs.to ?? this.domain;
    return reply;
  }

  private refuse(from: C2sSession, stanza: Element, condition: StanzaErrorCondition): void {
    if (stanza.attrs.type === 'error' || stanza.attrs.type === 'result') return;
    if (stanza.name === 'presence') return; // RFC 6121: presence is dropped silently
    from.send(this.errorReply(stanza, 'cancel', condition));
    this.logger.debug(
      { from: jidToString(from.jid), to: stanza.attrs.to, name: stanza.name },
      'stanza not delivered',
    );
  }
}

/** A command in the sense of §9: a message or an iq request, not an answer or an error. */
function isCommand(stanza: Element): boolean {
  if (stanza.name === 'message') return stanza.attrs.type !== 'error';
  return stanza.name === 'iq' && (stanza.attrs.type === 'get' || stanza.attrs.type === 'set');
}
