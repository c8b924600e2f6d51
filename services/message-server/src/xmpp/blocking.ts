/**
 * XEP-0191 Blocking Command: an account reads its blocklist (and from then on gets its changes pushed, §3.1),
 * blocks JIDs (§3.2) and unblocks some or all (§3.3, §3.4). The router enforces the list (blocklist.ts). Blocking a
 * related contact shows it the account's resources as gone (§3.2); unblocking it shows their current presence again.
 */
import { bareString, jidToString, parseJid, xml, type C2sSession, type Element, type Jid } from '@irsp/xmpp';
import { MAX_BLOCKED, type BlockList } from './blocklist.js';
import type { Delivery } from './delivery.js';
import type { Interests } from './interests.js';
import type { Presence } from './presence.js';

export const BLOCKING_NS = 'urn:xmpp:blocking';
export const BLOCKING_ERRORS_NS = 'urn:xmpp:blocking:errors';

export class Blocking {
  constructor(
    private readonly blocklist: BlockList,
    private readonly delivery: Delivery,
    private readonly interests: Interests,
    private readonly presence: () => Presence,
  ) {}

  async onIq(from: C2sSession, stanza: Element, payload: Element): Promise<void> {
    const owner = from.jid.local!;
    const type = stanza.attrs.type;
    if (payload.name === 'blocklist') {
      if (type !== 'get') return void from.send(this.delivery.errorReply(stanza, 'modify', 'bad-request'));
      const list = await this.blocklist.list(owner);
      this.interests.set(from, 'blocklist', true);
      from.send(
        this.delivery
          .result(stanza)
          .append(xml('blocklist', { xmlns: BLOCKING_NS }, ...[...list].map((jid) => xml('item', { jid })))),
      );
      return;
    }
    if (type !== 'set') return void from.send(this.delivery.errorReply(stanza, 'modify', 'bad-request'));
    const items = payload.getChildElements();
    const jids: string[] = [];
    for (const item of items) {
      const jid = item.name === 'item' && item.attrs.jid !== undefined ? parseJid(item.attrs.jid) : undefined;
      if (!jid) {
        from.send(
          this.delivery.errorReply(
            stanza,
            'modify',
            'jid-malformed',
            'each item needs a valid jid attribute',
          ),
        );
        return;
      }
      if (jid.local === owner && jid.domain === this.delivery.domain) {
        from.send(
          this.delivery.errorReply(stanza, 'modify', 'not-acceptable', 'an account cannot block itself'),
        );
        return;
      }
      jids.push(jidToString(jid));
    }
    const unique = [...new Set(jids)];
    if (payload.name === 'block') {
      // §3.2: a block names at least one JID.
      if (unique.length === 0)
        return void from.send(this.delivery.errorReply(stanza, 'modify', 'bad-request'));
      if (!(await this.blocklist.add(owner, unique))) {
        from.send(
          this.delivery.errorReply(
            stanza,
            'cancel',
            'not-acceptable',
            `a blocklist holds at most ${MAX_BLOCKED} JIDs`,
          ),
        );
        return;
      }
      from.send(this.delivery.result(stanza));
      this.push(owner, 'block', unique);
      await this.showGone(owner, unique);
      return;
    }
    // §3.3: no item unblocks every JID.
    const removed = await this.blocklist.remove(owner, unique.length === 0 ? undefined : unique);
    from.send(this.delivery.result(stanza));
    this.push(owner, 'unblock', unique);
    await this.showCurrent(owner, removed);
  }

  /** §3.2, §3.3: the change to every resource of the account that read the list. */
  private push(owner: string, name: 'block' | 'unblock', jids: string[]): void {
    const push = xml(
      'iq',
      { type: 'set', id: this.delivery.nextId('blocklist') },
      xml(name, { xmlns: BLOCKING_NS }, ...jids.map((jid) => xml('item', { jid }))),
    );
    this.interests.send(owner, 'blocklist', push);
  }

  /** §3.2: a blocked related contact sees the account's resources go unavailable (unrelated ones saw nothing). */
  private async showGone(owner: string, blocked: string[]): Promise<void> {
    for (const { contact, to } of await this.relatedCovered(owner, blocked)) {
      const local = this.delivery.roster.local(contact);
      for (const source of this.delivery.everywhere(owner)) {
        const unavailable = xml('presence', { type: 'unavailable', from: jidToString(source.jid), to });
        if (local === undefined) this.delivery.toOtherAs(unavailable);
        else this.toContact(local, to, unavailable);
      }
    }
  }

  /** Unblocked related contacts see the account's current presence again, and it theirs. */
  private async showCurrent(owner: string, unblocked: string[]): Promise<void> {
    const own = this.delivery.roster.bare(owner);
    for (const { contact } of await this.relatedCovered(owner, unblocked)) {
      if (await this.blocklist.between(own, contact)) continue;
      this.presence().sendCurrent(own, contact);
      if (this.delivery.roster.local(contact) !== undefined) this.presence().sendCurrent(contact, own);
    }
  }

  /** The related contacts these blocklist items cover, each with the JID the item names (full or bare). */
  private async relatedCovered(owner: string, items: string[]): Promise<{ contact: string; to: string }[]> {
    const found: { contact: string; to: string }[] = [];
    for (const contact of await this.delivery.roster.relatedContacts(owner)) {
      const jid = parseJid(contact);
      if (!jid) continue;
      for (const item of items) {
        const parsed = parseJid(item);
        if (parsed && covers(parsed, jid)) found.push({ contact, to: parsed.resource ? item : contact });
      }
    }
    return found;
  }

  private toContact(local: string, to: string, stanza: Element): void {
    const slash = to.indexOf('/');
    const one = slash < 0 ? undefined : this.delivery.recipient(local, to.slice(slash + 1));
    for (const recipient of slash < 0 ? this.delivery.everywhere(local) : one ? [one] : []) {
      const copy = stanza.clone();
      copy.attrs.to = jidToString(recipient.jid);
      recipient.send(copy);
    }
  }
}

/** Whether the item `item` covers the bare JID `contact` or one of its resources. */
function covers(item: Jid, contact: Jid): boolean {
  if (item.local === undefined) return item.domain === contact.domain && item.resource === undefined;
  return bareString(item) === bareString(contact);
}

/** XEP-0191 §3.5: what a session gets for a stanza to a JID its account blocks. */
export function blockedError(delivery: Delivery, stanza: Element): Element {
  const reply = delivery.errorReply(stanza, 'cancel', 'not-acceptable');
  reply.getChild('error')!.append(xml('blocked', { xmlns: BLOCKING_ERRORS_NS }));
  return reply;
}
