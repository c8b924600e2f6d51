/**
 * The load generator's XMPP reader: splits a client stream into its top-level events without building a DOM.
 * A server's output is well-formed XML with `<` always escaped in text, so a stanza is found by counting start
 * and end tags; attribute values are skipped quote-aware because `>` may appear in them unescaped.
 */
import { StringDecoder } from 'node:string_decoder';

export type StreamEvent =
  | { kind: 'open'; attrs: Record<string, string> }
  | { kind: 'stanza'; name: string; xml: string }
  | { kind: 'close' };

export class StanzaSplitter {
  // Bytes → text here, not per chunk: a UTF-8 character may be split across TCP segments.
  private readonly decoder = new StringDecoder('utf8');
  private buffer = '';
  /** Where scanning resumes: the start of an incomplete tag, or the end of the last complete one. */
  private scan = 0;
  /** Start of the stanza being read, or -1 between stanzas. */
  private start = -1;
  private depth = 0;

  constructor(private readonly emit: (event: StreamEvent) => void) {}

  push(chunk: Buffer | string): void {
    this.buffer += typeof chunk === 'string' ? chunk : this.decoder.write(chunk);
    for (;;) {
      const open = this.buffer.indexOf('<', this.scan);
      if (open < 0) {
        // Only whitespace keep-alives (or text) remain: drop them between stanzas.
        if (this.start < 0) this.discard(this.buffer.length);
        return;
      }
      const close = tagEnd(this.buffer, open);
      if (close < 0) {
        if (this.start < 0) this.discard(open);
        else this.scan = open;
        return;
      }
      this.scan = close + 1;
      this.onTag(open, close);
    }
  }

  private discard(upTo: number): void {
    this.buffer = this.buffer.slice(upTo);
    this.scan = 0;
  }

  private onTag(open: number, close: number): void {
    const second = this.buffer.charCodeAt(open + 1);
    if (second === 63 /* ? */ || second === 33 /* ! */) {
      // XML declaration (or a comment a server should never send): not part of any stanza.
      if (this.start < 0) this.discard(close + 1);
      return;
    }
    if (second === 47 /* / */) {
      if (this.depth === 0) {
        this.discard(close + 1);
        this.emit({ kind: 'close' });
        return;
      }
      this.depth -= 1;
    } else if (this.depth === 0) {
      const tag = this.buffer.slice(open, close + 1);
      const name = tagName(tag);
      if (name === 'stream' || name.endsWith(':stream')) {
        this.discard(close + 1);
        this.emit({ kind: 'open', attrs: tagAttributes(tag) });
        return;
      }
      this.start = open;
      if (this.buffer.charCodeAt(close - 1) !== 47 /* / */) this.depth = 1;
    } else if (this.buffer.charCodeAt(close - 1) !== 47) {
      this.depth += 1;
    }
    if (this.depth === 0) {
      const xml = this.buffer.slice(this.start, close + 1);
      this.start = -1;
      this.discard(close + 1);
      this.emit({ kind: 'stanza', name: tagName(xml), xml });
    }
  }
}

/** Index of the `>` that ends the tag opened at `open`, skipping quoted attribute values; -1 if incomplete. */
function tagEnd(text: string, open: number): number {
  let quote = 0;
  for (let i = open + 1; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (quote !== 0) {
      if (c === quote) quote = 0;
    } else if (c === 34 || c === 39) {
      quote = c;
    } else if (c === 62) {
      return i;
    }
  }
  return -1;
}

/** The qualified name of the first tag in `xml`. */
export function tagName(xml: string): string {
  let end = 1;
  while (end < xml.length) {
    const c = xml.charCodeAt(end);
    if (c === 32 || c === 62 || c === 47 || c === 9 || c === 10 || c === 13) break;
    end += 1;
  }
  return xml.slice(1, end);
}

/** The attributes of the first tag in `xml`, entities decoded. */
export function tagAttributes(xml: string): Record<string, string> {
  const attrs: Record<string, string> = {};
  const end = tagEnd(xml, 0);
  const pattern = /([^\s=/>]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/g;
  const head = xml.slice(tagName(xml).length + 1, end < 0 ? xml.length : end);
  for (const match of head.matchAll(pattern)) {
    attrs[match[1]!] = unescapeXml(match[2] ?? match[3] ?? '');
  }
  return attrs;
}

/** One attribute of the first tag, without parsing the others (the hot path of the receivers). */
export function attribute(xml: string, name: string): string | undefined {
  const end = tagEnd(xml, 0);
  for (const quote of ['"', "'"]) {
    const key = ` ${name}=${quote}`;
    const at = xml.indexOf(key);
    if (at < 0 || at > end) continue;
    const from = at + key.length;
    return unescapeXml(xml.slice(from, xml.indexOf(quote, from)));
  }
  return undefined;
}

/** The text of the first `<body>` element (raw, not unescaped: the markers we look for need no escaping). */
export function bodyText(xml: string): string | undefined {
  const at = xml.indexOf('<body');
  if (at < 0) return undefined;
  const from = xml.indexOf('>', at) + 1;
  if (xml.charCodeAt(from - 2) === 47) return '';
  const to = xml.indexOf('</body>', from);
  return to < 0 ? undefined : xml.slice(from, to);
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

export function unescapeXml(text: string): string {
  if (!text.includes('&')) return text;
  return text.replace(/&(amp|lt|gt|quot|apos|#x[0-9a-fA-F]+|#[0-9]+);/g, (_, entity: string) => {
    if (entity.startsWith('#x')) return String.fromCodePoint(parseInt(entity.slice(2), 16));
    if (entity.startsWith('#')) return String.fromCodePoint(parseInt(entity.slice(1), 10));
    return ENTITIES[entity]!;
  });
}

export function escapeXml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) => `&${{ '&': 'amp', '<': 'lt', '>': 'gt', '"': 'quot', "'": 'apos' }[c]};`,
  );
}
