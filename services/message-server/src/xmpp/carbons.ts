/**
 * XEP-0280 Message Carbons: a resource that enabled carbons gets a copy of each chat its account sends from another
 * resource (`<sent/>`) and of each one sent to another of its resources by full JID (`<received/>`; a message to
 * the bare JID reaches every resource already). Copies go only to the account's own resources, after the router
 * let the original through (relationships, blocking), and are best effort: the original keeps its guarantees
 * (decisions 0008, 0009), a copy is neither stored offline nor handed back (decision 0025).
 */
import { jidToString, xml, type C2sSession, type Element } from '@irsp/xmpp';
import type { Delivery } from './delivery.js';
import type { Interests } from './interests.js';

export const CARBONS_NS = 'urn:xmpp:carbons:2';
const FORWARD_NS = 'urn:xmpp:forward:0';
const HINTS_NS = 'urn:xmpp:hints';
/** Payloads that make a `normal` message without a body one of a chat (XEP-0280 §6.1): receipts, chat states. */
const CHAT_PAYLOADS = [
  'urn:xmpp:receipts',
  'http://jabber.org/protocol/chatstates',
  'urn:xmpp:chat-markers:0',
];

export class Carbons {
  constructor(
    private readonly delivery: Delivery,
    private readonly interests: Interests,
  ) {}

  /** XEP-0280 §4–5: `<enable/>` or `<disable/>` for the sending resource. */
  onIq(from: C2sSession, stanza: Element, payload: Element): void {
    if (stanza.attrs.type !== 'set' || payload.getChildElements().length > 0) {
      from.send(this.delivery.errorReply(stanza, 'modify', 'bad-request'));
      return;
    }
    this.interests.set(from, 'carbons', payload.name === 'enable');
    from.send(this.delivery.result(stanza));
  }

  /** A message a local session sent, let through to its recipient: `<sent/>` to the account's other resources. */
  sent(from: C2sSession, stanza: Element): void {
    if (!eligible(stanza)) return;
    const original = stanza.clone();
    original.attrs.from = jidToString(from.jid);
    this.copy('sent', from.jid.local!, original, from.jid.resource);
  }

  /** A message delivered to the full JID `local`/`resource`: `<received/>` to the account's other resources. */
  received(local: string, resource: string, stanza: Element): void {
    if (eligible(stanza)) this.copy('received', local, stanza, resource);
  }

  private copy(direction: 'sent' | 'received', local: string, original: Element, except?: string): void {
    const inner = original.clone();
    // Inside <forwarded/> the message is in its own namespace again (XEP-0297 §3).
    inner.attrs.xmlns = 'jabber:client';
    const own = this.delivery.roster.bare(local);
    const wrapper = xml(
      'message',
      { from: own, type: original.attrs.type },
      xml(direction, { xmlns: CARBONS_NS }, xml('forwarded', { xmlns: FORWARD_NS }, inner)),
    );
    this.interests.send(local, 'carbons', wrapper, except);
  }
}

/**
 * XEP-0280 §6.1: chats (`chat`, or `normal` with a body or a chat payload) are copied; `groupchat`, errors, messages
 * marked `<private/>` (§7) or `<no-copy/>` (XEP-0334), and carbons themselves are not.
 */
export function eligible(stanza: Element): boolean {
  if (stanza.name !== 'message') return false;
  const type = stanza.attrs.type ?? 'normal';
  if (type !== 'chat' && type !== 'normal') return false;
  if (stanza.getChild('private', CARBONS_NS) || stanza.getChild('no-copy', HINTS_NS)) return false;
  if (isCarbon(stanza)) return false;
  if (type === 'chat') return true;
  return (
    stanza.getChild('body') !== undefined ||
    stanza.getChildElements().some((child) => CHAT_PAYLOADS.includes(child.xmlns ?? ''))
  );
}

/** A carbon copy: a message with `<sent/>` or `<received/>` (also what a client forged; never copied again). */
export function isCarbon(stanza: Element): boolean {
  return (
    stanza.getChild('sent', CARBONS_NS) !== undefined || stanza.getChild('received', CARBONS_NS) !== undefined
  );
}
