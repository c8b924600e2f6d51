/**
 * Presence and relationships (14543-5-8 §10, §13; RFC 6121 §3–4), within the AS and across ASs (clause 8.5):
 * - a subscription request waits for the target's approval, or is approved at once when a user presents a device's
 *   verification code; one approval relates both sides (the IRSP rule), and either side's release ends it;
 * - presence goes to related accounts only: to local resources directly, to another AS once per bare JID;
 * - towards another AS our subscription stanzas carry `<mutual xmlns='urn:irsp:relationship:0'/>`: an IRSP AS that
 *   receives it relates both sides in one approval as here. A plain RFC 6121 server (Prosody, ejabberd) sends no
 *   such mark; with it the pair goes through RFC 6121's one-way states, our side asking back with a proper
 *   `subscribe` and sending nothing its user did not request (docs/decisions/0026-rfc6121-subscriptions.md).
 */
import type { Logger } from '@irsp/http';
import { bareString, jidToString, xml, type C2sSession, type Element, type Jid } from '@irsp/xmpp';
import type { Delivery, Origin } from './delivery.js';
import type { RosterStore } from './roster.js';
import { VERIFY_CODE_NS, type VerifyCodeCheck } from './verify-code-check.js';

/** Our extension: a user presents a device's verification code in its subscription request (docs/client-protocol.md). */
export { VERIFY_CODE_NS };

/** Our mark on subscription stanzas: the sending AS keeps IRSP relationships (mutual in one approval). */
export const RELATIONSHIP_NS = 'urn:irsp:relationship:0';

type SubscriptionType = 'subscribe' | 'subscribed' | 'unsubscribe' | 'unsubscribed';

/** A subscription stanza from an IRSP account (it carries our mark). */
function fromIrsp(stanza: Element): boolean {
  return stanza.getChild('mutual', RELATIONSHIP_NS) !== undefined;
}

/** A subscription stanza of the local `from` to `to` of another AS, marked as IRSP. */
export function marked(type: SubscriptionType, from: string, to: string): Element {
  return xml('presence', { type, from, to }, xml('mutual', { xmlns: RELATIONSHIP_NS }));
}

export class Presence {
  /** The last available presence each session broadcast. */
  private readonly current = new WeakMap<C2sSession, Element>();
  private readonly roster: RosterStore;

  constructor(
    private readonly delivery: Delivery,
    private readonly verifyCodes: VerifyCodeCheck,
    private readonly logger: Logger,
  ) {
    this.roster = delivery.roster;
  }

  // --- a session's own presence ------------------------------------------------------------------------------------

  /** A session's broadcast presence; true when it is initial presence (the session has become available). */
  async own(from: C2sSession, stanza: Element): Promise<boolean> {
    const first = !this.current.has(from);
    if (stanza.attrs.type === 'unavailable') {
      if (first) return false;
      this.current.delete(from);
    } else {
      this.current.set(from, stanza);
    }
    await this.broadcast(from, stanza);
    // RFC 6121 §4.2.2: initial presence brings the contacts' current presence — local ones at once, those of other
    // ASs by a probe.
    const initial = first && stanza.attrs.type === undefined;
    if (initial) {
      const own = this.roster.bare(from.jid.local!);
      for (const contact of await this.roster.relatedContacts(from.jid.local!)) {
        if (await this.delivery.blocklist.between(from.jid, contact)) continue;
        if (this.roster.local(contact) === undefined) {
          this.delivery.toOtherAs(xml('presence', { type: 'probe', from: own, to: contact }));
        } else {
          this.sendCurrent(contact, jidToString(from.jid));
        }
      }
      for (const other of this.delivery.sessions.resources(from.jid.local!)) {
        const presence = this.current.get(other);
        if (other !== from && presence) from.send(stamped(presence, other.jid, jidToString(from.jid)));
      }
      this.probeElsewhere(from.jid.local!, jidToString(from.jid));
    }
    return initial;
  }

  /** Whether a session has sent initial presence and not gone unavailable since (RFC 6121 §4.1: available). */
  available(session: C2sSession): boolean {
    return this.current.has(session);
  }

  /** The session has gone: unavailable to whoever saw it online. */
  async gone(session: C2sSession): Promise<void> {
    if (!this.current.has(session)) return;
    this.current.delete(session);
    await this.broadcast(session, xml('presence', { type: 'unavailable' }));
  }

  /**
   * A session this server no longer holds (its message server crashed: docs/decisions/0013-online-sessions.md):
   * unavailable from its full JID to the account's own resources here, the online resources here of related local
   * accounts, and once to each related account of another AS. Its recipients may never have seen it available;
   * RFC 6121 §4.5.3 has them ignore it then.
   */
  async lost(local: string, resource: string): Promise<void> {
    const from = `${this.roster.bare(local)}/${resource}`;
    const unavailable = (to: string) => xml('presence', { type: 'unavailable', from, to });
    for (const other of this.delivery.everywhere(local)) other.send(unavailable(jidToString(other.jid)));
    for (const contact of await this.roster.relatedContacts(local)) {
      const contactLocal = this.roster.local(contact);
      if (contactLocal === undefined) {
        this.delivery.toOtherAs(unavailable(contact));
        continue;
      }
      for (const recipient of this.delivery.everywhere(contactLocal))
        recipient.send(unavailable(jidToString(recipient.jid)));
    }
  }

  /** A session's presence to its own other resources, every online resource of related local accounts, and once
   * to each related account of another AS. */
  private async broadcast(from: C2sSession, stanza: Element): Promise<void> {
    const sender = jidToString(from.jid);
    for (const other of this.delivery.everywhere(from.jid.local!))
      if (other !== from) this.delivery.deliver(from, other, stamped(stanza, from.jid, sender));
    for (const contact of await this.roster.relatedContacts(from.jid.local!)) {
      if (await this.delivery.blocklist.between(from.jid, contact)) continue;
      const local = this.roster.local(contact);
      if (local === undefined) {
        this.delivery.toOtherAs(stamped(stanza, from.jid, contact));
        continue;
      }
      for (const recipient of this.delivery.everywhere(local))
        this.delivery.deliver(from, recipient, stamped(stanza, from.jid, jidToString(recipient.jid)));
    }
  }

  /**
   * The current presence of every online resource of the local account `of`, to `to`: a full JID (that session) or
   * a bare one (every resource). Resources of `of` held by other message servers of the AS are probed there, unless
   * `hereOnly` (the answer to such a probe).
   */
  sendCurrent(of: string, to: string, hereOnly = false): void {
    const ofLocal = this.roster.local(of);
    if (ofLocal === undefined) return;
    const slash = to.indexOf('/');
    const toLocal = this.roster.local(slash < 0 ? to : to.slice(0, slash));
    const recipients = () => {
      if (toLocal === undefined) return [];
      if (slash < 0) return this.delivery.everywhere(toLocal);
      const one = this.delivery.recipient(toLocal, to.slice(slash + 1));
      return one ? [one] : [];
    };
    for (const source of this.delivery.sessions.resources(ofLocal)) {
      const presence = this.current.get(source);
      if (!presence) continue;
      if (toLocal === undefined) {
        this.delivery.toOtherAs(stamped(presence, source.jid, to));
        continue;
      }
      for (const recipient of recipients())
        recipient.send(stamped(presence, source.jid, jidToString(recipient.jid)));
    }
    if (!hereOnly) this.probeElsewhere(ofLocal, to);
  }

  /** Asks each other message server holding sessions of `of` for their current presence, to `to` (decision 0024). */
  private probeElsewhere(of: string, to: string): void {
    const bus = this.delivery.clustered;
    if (!bus) return;
    for (const server of new Set(this.delivery.sessions.remote(of).map((r) => r.server)))
      bus.send(server, { kind: 'probe', of, to });
  }

  // --- directed presence and subscriptions -------------------------------------------------------------------------

  /**
   * Presence with a `to`, from a local session or from another AS. `sender` and `target` are bare JIDs; at least
   * one is local (the s2s engine only hands over stanzas to this AS).
   */
  async directed(origin: Origin, stanza: Element, target: Jid): Promise<void> {
    const sender = bareString(origin.jid);
    const to = bareString(target);
    if (target.local === undefined || to === sender) return;
    // XEP-0191 §3.4–3.5: presence to or from a blocked JID is dropped; ending a relationship still goes through.
    const ending = stanza.attrs.type === 'unsubscribe' || stanza.attrs.type === 'unsubscribed';
    if (!ending && (await this.delivery.blocklist.between(origin.jid, target))) return;
    const targetLocal = this.roster.local(to);
    const senderLocal = this.roster.local(sender);
    switch (stanza.attrs.type) {
      case 'subscribe':
        return this.subscribe(origin, stanza, sender, to);
      case 'subscribed':
        if (targetLocal !== undefined && senderLocal === undefined)
          return this.approvedThere(stanza, targetLocal, sender, to);
        if (senderLocal !== undefined) return this.approve(senderLocal, sender, to);
        return;
      case 'unsubscribed':
      case 'unsubscribe':
        if (senderLocal === undefined && targetLocal !== undefined && !fromIrsp(stanza))
          return this.endedThere(stanza.attrs.type, targetLocal, sender, to);
        if (stanza.attrs.type === 'unsubscribe') {
          await this.release(sender, to);
          return;
        }
        // A refusal of a pending request, or (RFC 6121 §3.2) the end of an existing relationship or one-way state.
        if (await this.isRelated(sender, to)) {
          await this.release(sender, to);
          return;
        }
        if (senderLocal !== undefined && targetLocal === undefined) {
          const state = await this.roster.state(senderLocal, to);
          if (state.subscription !== 'none') {
            await this.release(sender, to);
            return;
          }
        }
        this.delivery.pushChanges(await this.roster.deny(sender, to));
        if (targetLocal === undefined) this.delivery.toOtherAs(marked('unsubscribed', sender, to));
        else this.delivery.toAll(to, xml('presence', { type: 'unsubscribed', from: sender, to }));
        return;
      case 'probe':
        // From another AS (RFC 6121 §4.3): the current presence of a related local account.
        if (
          senderLocal === undefined &&
          targetLocal !== undefined &&
          (await this.roster.related(targetLocal, sender))
        )
          this.sendCurrent(to, sender);
        return;
      case undefined:
      case 'unavailable':
        // Directed presence reaches related accounts only.
        if (await this.isRelated(sender, to)) {
          if (targetLocal === undefined) this.delivery.toOtherAs(stanza);
          else this.toLocalTarget(origin, stanza, targetLocal, target.resource);
        }
        return;
      case 'error':
        // Another AS refused our account's request (e.g. a wrong verification code): the request ends there.
        if (
          senderLocal === undefined &&
          targetLocal !== undefined &&
          (await this.roster.asked(targetLocal, sender))
        ) {
          this.delivery.pushChanges(await this.roster.deny(sender, to));
          this.toLocalTarget(origin, stanza, targetLocal, target.resource);
        }
        return;
      default:
        return;
    }
  }

  private toLocalTarget(origin: Origin, stanza: Element, local: string, resource: string | undefined): void {
    const one = resource === undefined ? undefined : this.delivery.recipient(local, resource);
    for (const recipient of one ? [one] : this.delivery.everywhere(local))
      this.delivery.deliver(origin, recipient, stanza);
  }

  /** Whether `a` and `b` are related, asked of whichever side is local. */
  private async isRelated(a: string, b: string): Promise<boolean> {
    const aLocal = this.roster.local(a);
    if (aLocal !== undefined) return this.roster.related(aLocal, b);
    const bLocal = this.roster.local(b);
    return bLocal !== undefined && this.roster.related(bLocal, a);
  }

  private async subscribe(origin: Origin, stanza: Element, sender: string, target: string): Promise<void> {
    const targetLocal = this.roster.local(target);
    const senderLocal = this.roster.local(sender);
    if (targetLocal === undefined) {
      // To another AS: our side records the pending request, that AS's message server decides.
      if (senderLocal === undefined) return;
      if (!this.delivery.federated) {
        origin.send(this.delivery.errorReply(stanza, 'cancel', 'remote-server-not-found'));
        return;
      }
      // Our account approves, by asking in turn, a request the contact made first.
      if (await this.roster.hasRequest(senderLocal, target)) return this.approve(senderLocal, sender, target);
      const state = await this.roster.state(senderLocal, target);
      // Already subscribed ('to' or 'both'): RFC 6121 §3.1.2 forwards it all the same, the contact's server answers.
      if (state.subscription === 'none' || state.subscription === 'from')
        this.delivery.pushChanges(await this.roster.request(sender, target));
      const forwarded = stanza.clone();
      forwarded.children = forwarded.children.filter(
        (child) => typeof child === 'string' || child.attrs.xmlns !== RELATIONSHIP_NS,
      );
      forwarded.append(xml('mutual', { xmlns: RELATIONSHIP_NS }));
      this.delivery.toOtherAs(forwarded);
      return;
    }
    if (!(await this.roster.accountExists(targetLocal))) {
      origin.send(this.delivery.errorReply(stanza, 'cancel', 'item-not-found'));
      return;
    }
    if (await this.roster.related(targetLocal, sender)) {
      this.subscribedTo(target, sender);
      return;
    }
    const code = stanza.getChild('verifycode', VERIFY_CODE_NS);
    if (code) {
      // 14543-5-8 §10: a user who presents the device's verification code binds it without its approval. Only a
      // user binds a device, so nothing else is even checked (or counted).
      const outcome =
        target.startsWith('#') && !sender.startsWith('#')
          ? await this.verifyCodes.check(targetLocal, target, sender, code.text())
          : 'wrong';
      if (outcome === 'right') return this.relate(target, sender);
      if (outcome === 'wrong') {
        origin.send(this.delivery.errorReply(stanza, 'auth', 'not-authorized'));
        return;
      }
      // Told apart from a wrong code: wait, policy-violation, and when to try again (our element, in seconds).
      const seconds = Math.ceil(outcome.retryAfterMs / 1000);
      const reply = this.delivery.errorReply(
        stanza,
        'wait',
        'policy-violation',
        `too many wrong verification codes: try again in ${seconds} s`,
      );
      reply.getChild('error')!.append(xml('retry', { xmlns: VERIFY_CODE_NS, after: String(seconds) }));
      origin.send(reply);
      return;
    }
    if (senderLocal === undefined && !fromIrsp(stanza))
      return this.subscribeFromPlain(sender, target, targetLocal);
    // A request waiting for the target's approval, delivered now to its online resources and at each login.
    this.delivery.pushChanges(await this.roster.request(sender, target));
    // A request the other side already made is answered by this one: both want the relationship.
    const crossing =
      senderLocal !== undefined
        ? await this.roster.hasRequest(senderLocal, target)
        : await this.roster.asked(targetLocal, sender);
    if (crossing) return this.relate(target, sender);
    this.delivery.toAll(target, xml('presence', { type: 'subscribe', from: sender, to: target }));
  }

  /**
   * A plain RFC 6121 server's user asks to see our account's presence (decision 0026). Our account's own request
   * to it stands for its approval (RFC 6121 §3.4's pre-approval): with 'to', the pair becomes related; with a
   * request of ours pending, that user is granted its direction. A grant already held is confirmed (§3.1.3).
   * Otherwise the request waits for our account, as any other.
   */
  private async subscribeFromPlain(sender: string, target: string, targetLocal: string): Promise<void> {
    const state = await this.roster.state(targetLocal, sender);
    if (state.subscription === 'to') return this.relate(target, sender, true);
    if (state.subscription === 'from') return this.subscribedTo(target, sender);
    if (state.ask) return this.grantOneWay(targetLocal, sender);
    this.delivery.pushChanges(await this.roster.request(sender, target, false));
    this.delivery.toAll(target, xml('presence', { type: 'subscribe', from: sender, to: target }));
  }

  /** `subscribed` from the local `from` to `to` (an answer to `to`'s request), marked when `to` is of another AS. */
  private subscribedTo(from: string, to: string): void {
    if (this.roster.local(to) === undefined) this.delivery.toOtherAs(marked('subscribed', from, to));
    else this.delivery.toAll(to, xml('presence', { type: 'subscribed', from, to }));
  }

  /** The local account `approver` approves `requester`'s pending request (by `subscribed`, or `subscribe` back). */
  private async approve(approverLocal: string, approver: string, requester: string): Promise<void> {
    const { pendingIn } = await this.roster.state(approverLocal, requester);
    if (!pendingIn) return; // RFC 6121 §3.1.5: nothing was asked (we keep no pre-approvals): ignored.
    if (pendingIn.mutual) return this.relate(approver, requester);
    return this.grantOneWay(approverLocal, requester);
  }

  /**
   * Our account grants a plain RFC 6121 server's user its direction: that user now holds 'to'; ours holds 'from'
   * and asks back with a proper `subscribe` (unless its own request is pending already), for the IRSP rule wants
   * both directions before the pair is related.
   */
  private async grantOneWay(ownerLocal: string, contact: string): Promise<void> {
    const owner = this.roster.bare(ownerLocal);
    const { ask } = await this.roster.state(ownerLocal, contact);
    this.delivery.pushChanges(await this.roster.oneWay(ownerLocal, contact, 'from', true));
    this.delivery.toOtherAs(marked('subscribed', owner, contact));
    if (!ask) this.delivery.toOtherAs(marked('subscribe', owner, contact));
  }

  /**
   * Another AS approves our account's request (RFC 6121 §3.1.5–3.1.6): an IRSP AS has related both sides there;
   * a plain RFC 6121 server has granted one direction, which relates the pair only if our account had granted the
   * other one already (it asked back). Without a request of ours pending it is ignored.
   */
  private async approvedThere(
    stanza: Element,
    targetLocal: string,
    sender: string,
    target: string,
  ): Promise<void> {
    const state = await this.roster.state(targetLocal, sender);
    if (!state.ask || state.subscription === 'to' || state.subscription === 'both') return;
    if (fromIrsp(stanza)) return this.relate(sender, target);
    if (state.subscription === 'from') return this.relate(sender, target, true);
    this.delivery.pushChanges(await this.roster.oneWay(targetLocal, sender, 'to', false));
    this.delivery.toAll(target, xml('presence', { type: 'subscribed', from: sender, to: target }));
  }

  /**
   * A plain RFC 6121 server's user ends a direction (RFC 6121 §3.2–3.3): `unsubscribed` cancels our account's
   * subscription or request, `unsubscribe` its own subscription or request. With no such state here it is ignored
   * (§3.2.3, §3.3.3). Otherwise the pair is no longer (or never becomes) related, so our side ends it whole, as a
   * release by either side does (decision 0026): its rows go, and that server is told to end the direction it still
   * holds.
   */
  private async endedThere(
    type: 'unsubscribe' | 'unsubscribed',
    targetLocal: string,
    sender: string,
    target: string,
  ): Promise<void> {
    const state = await this.roster.state(targetLocal, sender);
    const ours = state.subscription === 'to' || state.subscription === 'both';
    const theirs = state.subscription === 'from' || state.subscription === 'both';
    const stanza = xml('presence', { type, from: sender, to: target });
    if (type === 'unsubscribed') {
      if (!ours && !state.ask) return;
      if (!theirs && !ours) {
        // A refusal of our account's request: its item loses the pending mark.
        this.delivery.pushChanges(await this.roster.deny(sender, target));
        this.delivery.toAll(target, stanza);
        return;
      }
    } else if (!theirs && !state.pendingIn) return;
    const related = state.subscription === 'both';
    const changes = await this.roster.release(target, sender);
    this.delivery.pushChanges(changes);
    if (!related) this.delivery.toAll(target, stanza);
    if (type === 'unsubscribed' && theirs) this.delivery.toOtherAs(marked('unsubscribed', target, sender));
    if (type === 'unsubscribe' && (ours || state.ask))
      this.delivery.toOtherAs(marked('unsubscribe', target, sender));
    if (related) this.exchangeUnavailable(target, sender);
  }

  /**
   * `approver` approves `requester` (or the verification code does, or a plain server's user completes the second
   * direction): the relationship exists both ways. Each local side is told `subscribed` by the other; an account of
   * another AS only when it is the requester (it asked; an approver there has related its side already). An IRSP AS
   * sends its side's presence itself; a plain server's user (`plain`) is probed for it (RFC 6121 §4.3).
   */
  async relate(approver: string, requester: string, plain = false): Promise<void> {
    this.delivery.pushChanges(await this.roster.establish(approver, requester));
    for (const [from, to] of [
      [approver, requester],
      [requester, approver],
    ] as const) {
      if (this.roster.local(to) !== undefined) {
        this.delivery.toAll(to, xml('presence', { type: 'subscribed', from, to }));
      } else if (to === requester) {
        this.delivery.toOtherAs(marked('subscribed', from, to));
      }
    }
    // Each side now sees the other's current presence.
    this.sendCurrent(approver, requester);
    this.sendCurrent(requester, approver);
    if (!plain) return;
    const [local, other] =
      this.roster.local(approver) === undefined ? [requester, approver] : [approver, requester];
    this.delivery.toOtherAs(xml('presence', { type: 'probe', from: local, to: other }));
  }

  /**
   * Ends a relationship or a one-way state (either side, or a refusal of an existing one): both rosters here lose
   * the item; when the sender is local, the other AS is told to end each direction it holds (RFC 6121 §2.5.2: both
   * for a relationship); each side sees the other go offline. Returns whether there was anything to end here.
   */
  async release(sender: string, target: string): Promise<boolean> {
    const senderLocal = this.roster.local(sender);
    const toOtherAs = this.roster.local(target) === undefined && senderLocal !== undefined;
    const before = toOtherAs ? await this.roster.state(senderLocal, target) : undefined;
    const changes = await this.roster.release(sender, target);
    this.delivery.pushChanges(changes);
    if (before) {
      const { subscription, ask, pendingIn } = before;
      if (subscription === 'to' || subscription === 'both' || ask)
        this.delivery.toOtherAs(marked('unsubscribe', sender, target));
      if (subscription === 'from' || subscription === 'both' || pendingIn)
        this.delivery.toOtherAs(marked('unsubscribed', sender, target));
    }
    if (changes.length > 0) this.exchangeUnavailable(sender, target);
    return changes.length > 0;
  }

  /**
   * After a release, each side sees the other go offline: every available resource here, and every resource other
   * message servers of the AS hold (whose presence is not known here: one that never sent any is ignored by its
   * recipients, RFC 6121 §4.5.3, as after a crash).
   */
  private exchangeUnavailable(a: string, b: string): void {
    for (const [of, to] of [
      [a, b],
      [b, a],
    ] as const) {
      const ofLocal = this.roster.local(of);
      if (ofLocal === undefined) {
        this.delivery.toAll(to, xml('presence', { type: 'unavailable', from: of, to }));
        continue;
      }
      const sources = this.delivery.sessions
        .resources(ofLocal)
        .filter((source) => this.current.has(source))
        .map((source) => jidToString(source.jid));
      if (this.delivery.clustered)
        for (const r of this.delivery.sessions.remote(ofLocal)) sources.push(`${of}/${r.resource}`);
      for (const from of sources) this.delivery.toAll(to, xml('presence', { type: 'unavailable', from, to }));
    }
  }
}

function stamped(presence: Element, from: Jid, to: string): Element {
  const copy = presence.clone();
  copy.attrs.from = jidToString(from);
  copy.attrs.to = to;
  return copy;
}
