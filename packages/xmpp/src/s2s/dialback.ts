/** Server dialback (XEP-0220): the keys (XEP-0185) and the `db:result` / `db:verify` elements. */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { NS } from '../namespaces.js';
import { xml, type Element } from '../xml/element.js';

/**
 * XEP-0185 §2: `HMAC-SHA256(SHA256(secret) as hex, receiving + ' ' + originating + ' ' + streamId)` in hex. The
 * stream id is the one the receiving server gave the originating server's stream.
 */
export function dialbackKey(
  secret: string,
  receiving: string,
  originating: string,
  streamId: string,
): string {
  const hashedSecret = createHash('sha256').update(secret, 'utf8').digest('hex');
  return createHmac('sha256', hashedSecret)
    .update(`${receiving} ${originating} ${streamId}`, 'utf8')
    .digest('hex');
}

/** Constant-time comparison of a received key with the expected one. */
export function keysEqual(received: string, expected: string): boolean {
  const a = Buffer.from(received, 'utf8');
  const b = Buffer.from(expected, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Why a key could not be checked (XEP-0220 §2.4): sent as `type='error'` with this condition. */
export type DialbackErrorCondition =
  | 'item-not-found'
  | 'remote-server-not-found'
  | 'remote-server-timeout'
  | 'resource-constraint'
  | 'internal-server-error';

export type DialbackVerdict = 'valid' | 'invalid' | { error: DialbackErrorCondition };

/** `<db:result>` or `<db:verify>` with the verdict (XEP-0220 §2.1.3, §2.3.2, errors §2.4). */
export function dialbackAnswer(
  kind: 'result' | 'verify',
  attrs: { from: string; to: string; id?: string },
  verdict: DialbackVerdict,
): Element {
  const base = { from: attrs.from, to: attrs.to, id: attrs.id };
  if (typeof verdict === 'string') return xml(`db:${kind}`, { ...base, type: verdict });
  const type =
    verdict.error === 'remote-server-timeout' || verdict.error === 'resource-constraint' ? 'wait' : 'cancel';
  return xml(
    `db:${kind}`,
    { ...base, type: 'error' },
    xml('error', { type }, xml(verdict.error, { xmlns: NS.stanzas })),
  );
}

/** The verdict carried by an answer; undefined when `type` is none of valid/invalid/error. */
export function readVerdict(element: Element): DialbackVerdict | undefined {
  const type = element.attrs.type;
  if (type === 'valid' || type === 'invalid') return type;
  if (type !== 'error') return undefined;
  const condition = element.getChild('error')?.getChildElements()[0]?.local;
  const known: DialbackErrorCondition[] = [
    'item-not-found',
    'remote-server-not-found',
    'remote-server-timeout',
    'resource-constraint',
    'internal-server-error',
  ];
  return { error: known.find((c) => c === condition) ?? 'internal-server-error' };
}
