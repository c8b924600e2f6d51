/**
 * The XMPP framing of RFC 7395 §3.3: every WebSocket message is one complete XML element, parsable by itself;
 * `<open/>` and `<close/>` in `urn:ietf:params:xml:ns:xmpp-framing` stand for the stream tags.
 */
import { NS } from '../namespaces.js';
import { Element } from '../xml/element.js';
import { StreamParser, type StreamParserErrorCondition } from '../xml/stream-parser.js';

export const FRAMED_CLOSE = `<close xmlns='${NS.framing}'/>`;

/** The server's `<open/>` (RFC 7395 §3.4): `from`, a fresh `id`, `version`. */
export function framedOpen(id: string, domain: string): string {
  return `<open xmlns='${NS.framing}' id='${id}' from='${domain}' version='1.0' xml:lang='en'/>`;
}

/**
 * An element as one message. With no stream header to inherit from, it declares what the header would have
 * given: `jabber:client` on stanzas, the `stream` prefix on `<stream:features/>` and `<stream:error/>`.
 */
export function framedElement(element: Element): string {
  const attrs = element.attrs;
  if (element.name.startsWith('stream:')) {
    if ('xmlns:stream' in attrs) return element.toString();
    return new Element(element.name, { 'xmlns:stream': NS.stream, ...attrs }, element.children).toString();
  }
  if ('xmlns' in attrs || element.name.includes(':')) return element.toString();
  return new Element(element.name, { xmlns: NS.client, ...attrs }, element.children).toString();
}

export type Frame = { element: Element } | { condition: StreamParserErrorCondition; text: string };

// Each message is parsed inside a stream header of ours, so that the stream parser's rules apply unchanged
// (restricted XML, limits) and elements without a namespace of their own are in `jabber:client`.
const WRAPPER = 'x-rfc7395-message';
const WRAPPER_OPEN = `<${WRAPPER}:stream xmlns:${WRAPPER}='${NS.stream}' xmlns='${NS.client}'>`;
const WRAPPER_CLOSE = `</${WRAPPER}:stream>`;
const XML_DECLARATION = /^<\?xml[ \t\r\n][^?]*\?>/;
const notOneElement: Frame = {
  condition: 'bad-format',
  text: 'a WebSocket message must be exactly one XML element (RFC 7395 §3.3.3)',
};

export class FrameParser {
  private readonly parser: StreamParser;
  private found: Element[] = [];
  private failure: { condition: StreamParserErrorCondition; text: string } | undefined;

  constructor(maxStanzaBytes: number) {
    this.parser = new StreamParser(
      {
        streamStart: () => {},
        stanza: (element) => this.found.push(element),
        streamEnd: () => {},
        error: (condition, text) => {
          this.failure = { condition, text };
        },
      },
      { maxStanzaBytes: maxStanzaBytes + WRAPPER_OPEN.length },
    );
  }

  /** One message's text. After a failure the parser is spent (the stream ends with that error). */
  parse(text: string): Frame {
    // RFC 7395 §3.3.3: each message is a standalone document, starting with '<'; an XML declaration is allowed
    // (if not recommended), so it goes before our stream header, where the parser checks it.
    if (text.charCodeAt(0) !== 0x3c) return notOneElement;
    const declaration = XML_DECLARATION.exec(text)?.[0] ?? '';
    this.found = [];
    this.parser.reset();
    this.parser.write(declaration);
    this.parser.write(WRAPPER_OPEN);
    this.parser.write(text.slice(declaration.length));
    this.parser.write(WRAPPER_CLOSE);
    if (this.failure) return this.failure;
    const [element, ...more] = this.found;
    if (element === undefined || more.length > 0) return notOneElement;
    return { element };
  }
}
