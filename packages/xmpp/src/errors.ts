/** Stream errors (RFC 6120 §4.9) and stanza errors (§8.3) as elements. */
import type { Element } from './xml/element.js';
import { xml } from './xml/element.js';
import { NS } from './namespaces.js';

export type StreamErrorCondition =
  | 'bad-format'
  | 'conflict'
  | 'connection-timeout'
  | 'host-unknown'
  | 'improper-addressing'
  | 'internal-server-error'
  | 'invalid-from'
  | 'invalid-namespace'
  | 'invalid-xml'
  | 'not-authorized'
  | 'not-well-formed'
  | 'policy-violation'
  | 'reset'
  | 'resource-constraint'
  | 'restricted-xml'
  | 'system-shutdown'
  | 'undefined-condition'
  | 'unsupported-encoding'
  | 'unsupported-stanza-type'
  | 'unsupported-version';

export type StanzaErrorType = 'auth' | 'cancel' | 'continue' | 'modify' | 'wait';
export type StanzaErrorCondition =
  | 'bad-request'
  | 'conflict'
  | 'feature-not-implemented'
  | 'forbidden'
  | 'internal-server-error'
  | 'item-not-found'
  | 'jid-malformed'
  | 'not-acceptable'
  | 'not-allowed'
  | 'not-authorized'
  | 'policy-violation'
  | 'recipient-unavailable'
  | 'remote-server-not-found'
  | 'remote-server-timeout'
  | 'resource-constraint'
  | 'service-unavailable'
  | 'subscription-required'
  | 'undefined-condition'
  | 'unexpected-request';

/** `detail` is an application-specific condition (RFC 6120 §4.9.4), e.g. XEP-0198's handled-count-too-high. */
export function streamError(condition: StreamErrorCondition, text?: string, detail?: Element): Element {
  return xml(
    'stream:error',
    {},
    xml(condition, { xmlns: NS.streams }),
    text ? xml('text', { xmlns: NS.streams, 'xml:lang': 'en' }, text) : undefined,
    detail,
  );
}

/** The error reply to a stanza: addresses swapped, type error, the condition (RFC 6120 §8.3). */
/** Whether an element read from a stream is the peer's `<stream:error/>` (RFC 6120 §4.9). */
export function isStreamError(element: Element): boolean {
  return element.xmlns === NS.stream && element.local === 'error';
}

/** The defined condition of a peer's stream error, for the log (undefined when it names none). */
export function streamErrorCondition(element: Element): string | undefined {
  return element.getChildElements().find((c) => c.xmlns === NS.streams && c.local !== 'text')?.local;
}

export function stanzaError(
  stanza: Element,
  type: StanzaErrorType,
  condition: StanzaErrorCondition,
  text?: string,
): Element {
  const reply = xml(stanza.name, {
    from: stanza.attrs.to,
    to: stanza.attrs.from,
    id: stanza.attrs.id,
    type: 'error',
  });
  return reply.append(
    xml(
      'error',
      { type },
      xml(condition, { xmlns: NS.stanzas }),
      text ? xml('text', { xmlns: NS.stanzas, 'xml:lang': 'en' }, text) : undefined,
    ),
  );
}
