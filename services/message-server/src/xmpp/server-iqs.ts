/**
 * The iqs the message server answers itself: at its own address the roster (RFC 6121 §2), XEP-0199 ping, XEP-0030
 * disco, and for the account that asks XEP-0280 carbons, XEP-0049 private storage and XEP-0191 blocking (also at its
 * own bare JID, where disco describes the account); and the device management of 14543-5-8 — verification code
 * reset (§10.5) and access rights (§9) — either at the server's address or at the device's bare JID (RFC 6121
 * §8.5.2: the server answers for the account), the latter also from an owner in another AS.
 */
import type { Logger } from '@irsp/http';
import { weakVerifyCode } from '@irsp/protocol';
import { NS, bareString, jidToString, parseJid, xml, type C2sSession, type Element } from '@irsp/xmpp';
import type { Notifications } from '../notifications.js';
import type { AccessRights } from './access.js';
import { BLOCKING_NS, type Blocking } from './blocking.js';
import { CARBONS_NS, type Carbons } from './carbons.js';
import { ROSTER_NS, itemElement, type Delivery, type Origin } from './delivery.js';
import { PRIVATE_NS, type PrivateStorage } from './private-storage.js';
import { VERIFY_CODE_NS, type Presence } from './presence.js';
import type { RosterStore } from './roster.js';

const DISCO_INFO = 'http://jabber.org/protocol/disco#info';
const DISCO_ITEMS = 'http://jabber.org/protocol/disco#items';
/** Our extension: a device owner reads and changes the device's access rights (docs/client-protocol.md). */
export const ACCESS_NS = 'urn:irsp:access:0';
/** What the server's disco#info lists: exactly what it answers (decision 0025). */
const SERVER_FEATURES = [
  DISCO_INFO,
  DISCO_ITEMS,
  NS.ping,
  ROSTER_NS,
  VERIFY_CODE_NS,
  ACCESS_NS,
  CARBONS_NS,
  PRIVATE_NS,
  BLOCKING_NS,
];

/** The client extensions the server answers for an account (decision 0025). */
export interface AccountIqs {
  carbons: Carbons;
  privateStorage: PrivateStorage;
  blocking: Blocking;
}

/** Which disco query an iq get is (XEP-0030), for the entity itself (no node); undefined for anything else. */
function discoQuery(stanza: Element): typeof DISCO_INFO | typeof DISCO_ITEMS | undefined {
  const payload = stanza.getChildElements()[0];
  if (stanza.attrs.type !== 'get' || payload === undefined || payload.attrs.node || payload.name !== 'query')
    return undefined;
  return payload.xmlns === DISCO_INFO || payload.xmlns === DISCO_ITEMS ? payload.xmlns : undefined;
}

export class ServerIqs {
  private readonly roster: RosterStore;

  constructor(
    private readonly delivery: Delivery,
    private readonly presence: Presence,
    private readonly access: AccessRights,
    private readonly notifications: Notifications,
    /** Stores a device's new verification code and sends Message 7 (verify-code.ts). */
    private readonly resetVerifyCode: (device: string, code: string) => Promise<200 | 422>,
    private readonly account: AccountIqs,
    private readonly logger: Logger,
  ) {
    this.roster = delivery.roster;
  }

  /** An iq to the server's own address from a local session (anything else is ignored or refused). */
  async toServer(from: C2sSession, stanza: Element): Promise<void> {
    if (stanza.name !== 'iq') return;
    const type = stanza.attrs.type;
    if (type === 'result' || type === 'error') return;
    const payload = stanza.getChildElements()[0]!;
    if (payload.name === 'query' && payload.xmlns === ROSTER_NS)
      return this.onRosterIq(from, stanza, payload);
    if (isDeviceManagement(stanza)) return this.onDeviceManagement(from, stanza, undefined);
    if ((payload.name === 'enable' || payload.name === 'disable') && payload.xmlns === CARBONS_NS)
      return this.account.carbons.onIq(from, stanza, payload);
    if (payload.name === 'query' && payload.xmlns === PRIVATE_NS)
      return this.account.privateStorage.onIq(from, stanza, payload);
    if (['blocklist', 'block', 'unblock'].includes(payload.name) && payload.xmlns === BLOCKING_NS)
      return this.account.blocking.onIq(from, stanza, payload);
    // XEP-0030 at the account's own bare JID describes the account, not the server.
    if (stanza.attrs.to !== undefined && parseJid(stanza.attrs.to)?.local !== undefined)
      return this.answerForAccount(from, stanza);
    return this.answerPublic(from, stanza);
  }

  /**
   * XEP-0030 at an account's own bare JID: a registered account with no items. It has no PEP service (XEP-0163), so
   * pubsub there (PEP bookmarks, XEP-0223/0402) gets service-unavailable (RFC 6120 §8.3.3.19), as the server's
   * address answers everything but ping and disco.
   */
  private answerForAccount(from: C2sSession, stanza: Element): void {
    const query = discoQuery(stanza);
    if (query === DISCO_INFO)
      return this.discoInfo(from, stanza, { category: 'account', type: 'registered' }, [
        DISCO_INFO,
        DISCO_ITEMS,
        CARBONS_NS,
      ]);
    if (query === DISCO_ITEMS) return this.discoItems(from, stanza, []);
    this.answerPublic(from, stanza);
  }

  /** What the server's address answers to anyone, another AS included: ping and disco. */
  answerPublic(from: Origin, stanza: Element): void {
    const payload = stanza.getChildElements()[0];
    if (
      stanza.attrs.type === 'get' &&
      payload?.name === 'ping' &&
      payload.xmlns === NS.ping &&
      !payload.attrs.node
    ) {
      from.send(this.delivery.result(stanza));
      return;
    }
    const query = discoQuery(stanza);
    if (query === DISCO_INFO)
      return this.discoInfo(
        from,
        stanza,
        { category: 'server', type: 'im', name: 'IRSP message server' },
        SERVER_FEATURES,
      );
    // XEP-0030 §4: the application servers of the AS are the server's items.
    if (query === DISCO_ITEMS)
      return this.discoItems(from, stanza, this.notifications.applicationServerItems());
    this.delivery.refuse(from, stanza, 'service-unavailable');
  }

  /**
   * XEP-0030 for an application server's address, which the server's disco#items lists: its identity (a component,
   * named as in the topology) and the one feature it has over XMPP, taking messages (clause 8.3.1); no items.
   * Anything else is service-unavailable, as before.
   */
  answerForApplicationServer(from: C2sSession, stanza: Element, jid: string): void {
    if (stanza.attrs.type === 'result' || stanza.attrs.type === 'error') return;
    const query = discoQuery(stanza);
    if (query === DISCO_INFO) {
      const name = this.notifications.applicationServerItems().find((item) => item.jid === jid)?.name ?? jid;
      return this.discoInfo(from, stanza, { category: 'component', type: 'generic', name }, [
        DISCO_INFO,
        DISCO_ITEMS,
      ]);
    }
    if (query === DISCO_ITEMS) return this.discoItems(from, stanza, []);
    this.delivery.refuse(from, stanza, 'service-unavailable');
  }

  /** A disco#info result with this identity and these features. */
  private discoInfo(
    from: Origin,
    stanza: Element,
    identity: Record<string, string>,
    features: readonly string[],
  ): void {
    from.send(
      this.delivery
        .result(stanza)
        .append(
          xml(
            'query',
            { xmlns: DISCO_INFO },
            xml('identity', identity),
            ...features.map((v) => xml('feature', { var: v })),
          ),
        ),
    );
  }

  /** A disco#items result with these items. */
  private discoItems(from: Origin, stanza: Element, items: readonly Record<string, string>[]): void {
    from.send(
      this.delivery
        .result(stanza)
        .append(xml('query', { xmlns: DISCO_ITEMS }, ...items.map((item) => xml('item', item)))),
    );
  }

  // --- rosters (RFC 6121 §2) ------------------------------------------------------------------------------------------

  private async onRosterIq(from: C2sSession, stanza: Element, query: Element): Promise<void> {
    const owner = from.jid.local!;
    if (stanza.attrs.type === 'get') {
      const items = await this.roster.list(owner);
      from.send(
        this.delivery
          .result(stanza)
          .append(xml('query', { xmlns: ROSTER_NS }, ...items.map((i) => itemElement(i)))),
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
    if (items.length !== 1 || !contact || contact.resource !== undefined || contact.local === undefined) {
      from.send(this.delivery.errorReply(stanza, 'modify', 'bad-request'));
      return;
    }
    const contactBare = jidToString(contact);
    if (item!.attrs.subscription === 'remove') {
      if (!(await this.presence.release(this.roster.bare(owner), contactBare))) {
        from.send(this.delivery.errorReply(stanza, 'cancel', 'item-not-found'));
        return;
      }
      from.send(this.delivery.result(stanza));
      return;
    }
    const groups = item!.getChildren('group').map((g) => g.text());
    if (new Set(groups).size !== groups.length || groups.some((g) => g.length === 0 || g.length > 1024)) {
      from.send(this.delivery.errorReply(stanza, 'modify', 'bad-request'));
      return;
    }
    from.send(this.delivery.result(stanza));
    this.delivery.pushChanges(
      await this.roster.setItem(owner, contactBare, item!.attrs.name ?? null, groups),
    );
  }

  // --- device management (§9, §10.5) ----------------------------------------------------------------------------------

  /**
   * A verification code reset or an access-rights iq, from a local session or an owner in another AS, to the
   * server (`addressed` undefined) or to the bare JID of the local device `addressed`.
   */
  async onDeviceManagement(from: Origin, stanza: Element, addressed: string | undefined): Promise<void> {
    const payload = stanza.getChildElements()[0]!;
    if (payload.name === 'verifycode') {
      if (stanza.attrs.type !== 'set') return this.delivery.refuse(from, stanza, 'service-unavailable');
      const device = await this.managedDevice(
        from,
        stanza,
        payload,
        addressed,
        'resets its verification code',
      );
      if (device !== undefined) await this.onVerifyCodeReset(from, stanza, payload, device);
      return;
    }
    const device = await this.managedDevice(from, stanza, payload, addressed, 'manages its access rights');
    if (device !== undefined) await this.onAccessIq(from, stanza, payload, device);
  }

  /**
   * 14543-5-8 §10.5: a device resets its own verification code, or its owner (§9) resets it (empty = none); the
   * message server stores it and synchronises it to the account server with Message 7.
   */
  private async onVerifyCodeReset(
    from: Origin,
    stanza: Element,
    payload: Element,
    device: string,
  ): Promise<void> {
    const code = payload.text();
    if (code.length > 256 || /\p{Cc}/u.test(code)) {
      from.send(
        this.delivery.errorReply(
          stanza,
          'modify',
          'bad-request',
          'verification code too long or with control characters',
        ),
      );
      return;
    }
    // The standard sets no strength: a weak code is accepted, and the operator warned (decision 0010).
    if (weakVerifyCode(code))
      this.logger.warn(
        { device },
        'weak verification code (fewer than 20 bits): guessing it is held only by the throttle',
      );
    const status = await this.resetVerifyCode(device, code);
    from.send(
      status === 200
        ? this.delivery.result(stanza)
        : this.delivery.errorReply(stanza, 'cancel', 'item-not-found'),
    );
  }

  /**
   * The device a management request is about: the one addressed, else the sender itself when it is a device and
   * names none, else the device in the `device` attribute. Only the device or its owner may manage it. Answers the
   * error and returns undefined otherwise.
   */
  private async managedDevice(
    from: Origin,
    stanza: Element,
    payload: Element,
    addressed: string | undefined,
    what: string,
  ): Promise<string | undefined> {
    const sender = bareString(from.jid);
    const named = payload.attrs.device;
    let device = addressed;
    if (named === undefined) {
      if (device === undefined && from.jid.local?.startsWith('#') && this.roster.local(sender) !== undefined)
        device = from.jid.local;
      if (device === undefined) {
        from.send(
          this.delivery.errorReply(
            stanza,
            'modify',
            'bad-request',
            'name the device in the device attribute',
          ),
        );
        return undefined;
      }
    } else {
      const jid = parseJid(named);
      if (!jid || jid.resource !== undefined || jid.local === undefined || !jid.local.startsWith('#')) {
        from.send(
          this.delivery.errorReply(
            stanza,
            'modify',
            'jid-malformed',
            'device must be the bare JID of a device',
          ),
        );
        return undefined;
      }
      if (jid.domain !== this.delivery.domain || (addressed !== undefined && jid.local !== addressed)) {
        from.send(this.delivery.errorReply(stanza, 'cancel', 'item-not-found', 'no such device in this AS'));
        return undefined;
      }
      device = jid.local;
    }
    if (!(await this.roster.accountExists(device))) {
      from.send(this.delivery.errorReply(stanza, 'cancel', 'item-not-found', 'no such device in this AS'));
      return undefined;
    }
    if (sender === this.roster.bare(device) || (await this.access.owner(device)) === sender) return device;
    from.send(this.delivery.errorReply(stanza, 'auth', 'forbidden', `only the device or its owner ${what}`));
    return undefined;
  }

  /**
   * 14543-5-8 §9: `get` lists the owner and the users granted the command right; `set` grants (`<grant jid/>`),
   * withdraws (`<revoke jid/>`) or hands the device over (`<owner jid/>`) — by the owner or the device, for users
   * bound to the device only, all or none.
   */
  private async onAccessIq(from: Origin, stanza: Element, payload: Element, device: string): Promise<void> {
    if (stanza.attrs.type === 'get') {
      const { owner, granted } = await this.access.describe(device);
      from.send(
        this.delivery
          .result(stanza)
          .append(
            xml(
              'access',
              { xmlns: ACCESS_NS, device: this.roster.bare(device), owner },
              ...granted.map((jid) => xml('user', { jid })),
            ),
          ),
      );
      return;
    }
    // Past managedDevice the sender is the owner or the device (a device whose owner has gone names a new one).
    const owner = await this.access.owner(device);
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
          this.delivery.errorReply(
            stanza,
            'modify',
            'bad-request',
            'expected grant, revoke or one owner, each with a bare jid',
          ),
        );
        return;
      }
      const userJid = jidToString(user);
      if (
        user.local === undefined ||
        user.local.startsWith('#') ||
        !(await this.roster.related(device, userJid))
      ) {
        from.send(
          this.delivery.errorReply(
            stanza,
            'cancel',
            'item-not-found',
            `${userJid} is not a user bound to the device`,
          ),
        );
        return;
      }
      if (list) list.push(userJid);
      else change.newOwner = userJid;
    }
    if (children.length === 0) {
      from.send(this.delivery.errorReply(stanza, 'modify', 'bad-request', 'nothing to change'));
      return;
    }
    if (!(await this.access.change(device, owner, change))) {
      from.send(
        this.delivery.errorReply(stanza, 'wait', 'conflict', 'the owner changed meanwhile; try again'),
      );
      return;
    }
    from.send(this.delivery.result(stanza));
    this.logger.info(
      { device, grant: change.grant, revoke: change.revoke, owner: change.newOwner },
      'access rights changed',
    );
  }
}

/** A verification-code reset or an access-rights iq (our extensions of 14543-5-8 §9 and §10.5). */
export function isDeviceManagement(stanza: Element): boolean {
  if (stanza.name !== 'iq' || (stanza.attrs.type !== 'get' && stanza.attrs.type !== 'set')) return false;
  const payload = stanza.getChildElements()[0];
  return (
    (payload?.name === 'verifycode' && payload.xmlns === VERIFY_CODE_NS) ||
    (payload?.name === 'access' && payload.xmlns === ACCESS_NS)
  );
}
