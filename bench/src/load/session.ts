/** Steps every scenario shares once clients are logged in: roster, presence, relationships. */
import type { XmppClient } from './client.js';
import { attribute, tagAttributes } from './splitter.js';

const NS_ROSTER = 'jabber:iq:roster';

export function bareJid(jid: string): string {
  const slash = jid.indexOf('/');
  return slash < 0 ? jid : jid.slice(0, slash);
}

/** Fetches the roster (which makes the resource "interested" in roster pushes, RFC 6121 §2.1.6). */
export async function fetchRoster(client: XmppClient): Promise<void> {
  await client.request((id) => `<iq type='get' id='${id}'><query xmlns='${NS_ROSTER}'/></iq>`);
}

/** XEP-0199 ping of the server: answered after every stanza sent before it on this stream was handled. */
export async function pingServer(client: XmppClient, domain: string): Promise<void> {
  await client.request((id) => `<iq type='get' id='${id}' to='${domain}'><ping xmlns='urn:xmpp:ping'/></iq>`);
}

/** The `subscription` each roster push carries, by JID. */
export function rosterPushItems(xml: string): { jid: string; subscription: string }[] {
  if (!xml.includes(NS_ROSTER)) return [];
  return [...xml.matchAll(/<item\b[^>]*>/g)].map((m) => {
    const attrs = tagAttributes(m[0]);
    return { jid: attrs.jid ?? '', subscription: attrs.subscription ?? 'none' };
  });
}

/**
 * Makes each pair related — subscription `both` both ways, which our server requires before it delivers a
 * message (clause 7.2) and the others accept as well: both sides ask, both approve what they are asked.
 * Resolves when every client has seen a roster push with `both` for its peer.
 */
export async function relate(
  pairs: readonly (readonly [XmppClient, XmppClient])[],
  timeoutMs = 60_000,
): Promise<void> {
  const waits: Promise<void>[] = [];
  const previous = new Map<XmppClient, XmppClient['onStanza']>();
  const watch = (client: XmppClient, peer: string) =>
    new Promise<void>((resolve) => {
      previous.set(client, client.onStanza);
      client.onStanza = (name, xml) => {
        const from = attribute(xml, 'from');
        if (name === 'presence' && attribute(xml, 'type') === 'subscribe' && from) {
          client.write(`<presence to='${bareJid(from)}' type='subscribed'/>`);
        } else if (name === 'iq' && attribute(xml, 'type') === 'set') {
          client.write(`<iq type='result' id='${attribute(xml, 'id') ?? ''}'/>`);
          if (rosterPushItems(xml).some((i) => i.jid === peer && i.subscription === 'both')) resolve();
        }
      };
    });
  for (const [a, b] of pairs) {
    waits.push(watch(a, bareJid(b.jid)), watch(b, bareJid(a.jid)));
  }
  for (const [a, b] of pairs) {
    a.write(`<presence to='${bareJid(b.jid)}' type='subscribe'/>`);
    b.write(`<presence to='${bareJid(a.jid)}' type='subscribe'/>`);
  }
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`relationships not established within ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  try {
    await Promise.race([Promise.all(waits), timeout]);
  } finally {
    clearTimeout(timer);
    for (const [client, handler] of previous) client.onStanza = handler;
  }
}

/** Runs `task` over `items` with at most `concurrency` at once, in order of start. */
export async function inParallel<T, R>(
  items: readonly T[],
  concurrency: number,
  task: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await task(items[index]!, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return results;
}
