/**
 * XEP-0049 Private XML Storage (jabber:iq:private): an account keeps one XML element per namespace on its server —
 * XEP-0048 bookmarks (storage:bookmarks) among them — stored in the AS's database, bounded per account, and gone
 * with the account (decision 0025).
 */
import type { Db } from '@irsp/store';
import { parseElement, xml, type C2sSession, type Element } from '@irsp/xmpp';
import type { Delivery } from './delivery.js';

export const PRIVATE_NS = 'jabber:iq:private';
/** What one account may store, over all its namespaces (UTF-8 bytes of the stored elements). */
export const MAX_PRIVATE_BYTES = 64 * 1024;
/** XEP-0049 §2.3: stanza namespaces and its own cannot be stored (nor any other jabber: namespace). */
const reserved = (ns: string): boolean => ns.startsWith('jabber:');

export class PrivateStorage {
  constructor(
    private readonly db: Db,
    private readonly delivery: Delivery,
  ) {}

  async onIq(from: C2sSession, stanza: Element, query: Element): Promise<void> {
    const owner = from.jid.local!;
    const children = query.getChildElements();
    const refuse = (text: string) =>
      void from.send(this.delivery.errorReply(stanza, 'modify', 'not-acceptable', text));
    // XEP-0049 §2.3: at least one child element in a namespace of its own.
    if (children.length === 0 || children.some((c) => !c.xmlns || c.xmlns === PRIVATE_NS))
      return refuse('one child element in a namespace of its own');
    if (children.some((c) => reserved(c.xmlns!))) return refuse('jabber: namespaces cannot be stored');
    const namespaces = children.map((c) => c.xmlns!);
    if (new Set(namespaces).size !== namespaces.length) return refuse('one element per namespace');
    if (stanza.attrs.type === 'get') {
      // A client asks for one namespace at a time (§2.3).
      if (children.length > 1) return refuse('one namespace per get');
      const stored = await this.get(owner, namespaces[0]!);
      from.send(
        this.delivery.result(stanza).append(xml('query', { xmlns: PRIVATE_NS }, stored ?? children[0]!)),
      );
      return;
    }
    const elements = children.map((c) => {
      const copy = c.clone();
      copy.attrs.xmlns = c.xmlns!;
      return copy.toString();
    });
    if (!(await this.set(owner, namespaces, elements)))
      return refuse(`private storage holds at most ${MAX_PRIVATE_BYTES} bytes per account`);
    from.send(this.delivery.result(stanza));
  }

  private async get(owner: string, namespace: string): Promise<Element | undefined> {
    const r = await this.db.query<{ element: string }>(
      'SELECT element FROM private_storage WHERE owner = $1 AND namespace = $2',
      [owner, namespace],
    );
    return r.rows[0] === undefined ? undefined : parseElement(r.rows[0].element);
  }

  /** Replaces the elements of these namespaces; false (nothing stored) above the account's bound. */
  private async set(owner: string, namespaces: string[], elements: string[]): Promise<boolean> {
    const bytes = elements.reduce((sum, e) => sum + Buffer.byteLength(e), 0);
    if (bytes > MAX_PRIVATE_BYTES) return false;
    return this.db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`private:${owner}`]);
      const r = await tx.query<{ n: number }>(
        `SELECT coalesce(sum(octet_length(element)), 0)::int AS n FROM private_storage
          WHERE owner = $1 AND NOT (namespace = ANY($2::text[]))`,
        [owner, namespaces],
      );
      if (r.rows[0]!.n + bytes > MAX_PRIVATE_BYTES) return false;
      await tx.query(
        `INSERT INTO private_storage (owner, namespace, element)
              SELECT $1, ns, el FROM unnest($2::text[], $3::text[]) AS t (ns, el)
         ON CONFLICT (owner, namespace) DO UPDATE SET element = excluded.element, updated_at = now()`,
        [owner, namespaces, elements],
      );
      return true;
    });
  }
}
