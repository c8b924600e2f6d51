/**
 * Strict incremental parser for one direction of an XML stream (RFC 6120 §4), on saxes with namespaces.
 *
 * - Restricted XML (§11.1): DOCTYPE, comments, processing instructions and entity references other than the five
 *   predefined ones are `restricted-xml`; the only allowed declaration is a leading `<?xml version='1.0'?>`,
 *   whose encoding, if given, must be UTF-8 (`unsupported-encoding`, §11.6). Invalid UTF-8 bytes are
 *   `unsupported-encoding` too (§4.9.3.22). Anything else that is not well-formed is `not-well-formed`.
 * - Limits (§13.12 resource exhaustion): every depth-1 element, the stream header with its prolog and each run of
 *   input between depth-1 elements may take at most `maxStanzaBytes` UTF-8 bytes of input, counted while it is
 *   read, so an endless element is cut off after `maxStanzaBytes + 1` bytes; element depth and attribute count are
 *   bounded. All are `policy-violation`.
 * - The root must be `stream` in `http://etherx.jabber.org/streams` (`invalid-namespace`, §4.8.1); a different
 *   first element that is not even trying to be a stream header is `not-well-formed`.
 * - Text between depth-1 elements must be whitespace (keep-alives, §4.6.1).
 * - Errors are fatal and reported once through `error`; nothing is emitted after them and later writes are
 *   ignored. After `streamEnd` later input is ignored too.
 * - The same bytes give the same events and the same error condition however they are cut into writes: saxes is
 *   never handed input past the byte that exceeds a limit, so a limit and a syntax error are told apart at the
 *   same place. (An error's text is a diagnostic: with several problems in one chunk it may name another one.)
 *
 * Events are emitted synchronously from inside `write()` (a `write()` from inside a handler is ignored).
 * `reset()` (stream restart, §4.3.3) may be called from any event handler: saxes is stopped (by a throw caught
 * here) right after the element being reported, and the rest of the input goes to a fresh saxes instance, so a
 * new stream header in the same chunk is parsed as such. An exception thrown by an event handler leaves the
 * parser dead and is rethrown from `write()`.
 *
 * Parsed elements: `name` and `attrs` exactly as written (declarations included), `xmlns` the resolved namespace
 * (undefined for none); adjacent text and CDATA are merged into one string child.
 */
import { SaxesParser } from 'saxes';
import type { SaxesTagNS, XMLDecl } from 'saxes';

import { Element } from './element.js';

const NS_STREAM = 'http://etherx.jabber.org/streams';

export interface StreamParserOptions {
  /** Largest depth-1 element (and stream header, and run of whitespace between them) in bytes, e.g. 262144. */
  maxStanzaBytes: number;
  /** Deepest element; the stream header is depth 0, stanzas are depth 1. Default 64. */
  maxDepth?: number;
  /** Most attributes (namespace declarations included) on one element. Default 64. */
  maxAttributes?: number;
}

export type StreamParserErrorCondition =
  | 'not-well-formed'
  | 'restricted-xml'
  | 'policy-violation'
  | 'invalid-namespace'
  | 'bad-format'
  | 'unsupported-encoding';

export interface StreamParserEvents {
  /**
   * The `<stream:stream>` open tag. `attrs` holds its attributes as written (declarations included);
   * `namespaces.default` is the default namespace it declares (`xmlns`), `namespaces.stream` the URI it binds to
   * the `stream` prefix (`xmlns:stream`), each undefined when not declared.
   */
  streamStart(
    attrs: Record<string, string>,
    namespaces: { default: string | undefined; stream: string | undefined },
  ): void;
  /** Every complete depth-1 element (stanzas and negotiation elements like `<starttls/>`, `<auth/>`). */
  stanza(element: Element): void;
  /** `</stream:stream>`. */
  streamEnd(): void;
  /** Fatal: after it nothing more is emitted. */
  error(condition: StreamParserErrorCondition, text: string): void;
}

/** Largest piece of input handed to saxes at once: bounds how far past a limit one write can run. */
const MAX_PIECE = 16_384;

// Control-flow signals thrown through saxes from our handlers (never escape write()).
const ABORT = Symbol('abort'); // fatal error reported, or stream ended: stop parsing
const RESTART = Symbol('restart'); // reset() called from a handler: rest of the input goes to a new parser
const HANDLER_THREW = Symbol('handler threw'); // a user event handler threw: rethrow its error

const WHITESPACE = /^[ \t\r\n]*$/;
const TEXT_OUTSIDE = 'text outside the stream';
const LEADING_WHITESPACE = /^[ \t\r\n]*/;

type SaxesOptions = { xmlns: true; forceXMLVersion: true; defaultXMLVersion: '1.0' };

/**
 * One decoder for every stream: a `TextDecoder` in streaming mode holds an ICU converter (≈ 1 KB of native memory
 * per connection). Chunks are cut before an unfinished UTF-8 sequence instead, whose bytes wait for the next
 * chunk (`carry`); invalid bytes still fail decoding (`fatal`), at the latest once the sequence is complete.
 */
const DECODER = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Length of `bytes` without a trailing UTF-8 sequence that is begun but not finished. */
function completeUtf8Length(bytes: Buffer): number {
  const length = bytes.length;
  for (let i = length - 1; i >= 0 && i >= length - 4; i--) {
    const b = bytes[i]!;
    if ((b & 0xc0) === 0x80) continue; // continuation byte: its lead is further back
    const needed = b >= 0xf0 && b <= 0xf7 ? 4 : b >= 0xe0 && b < 0xf0 ? 3 : b >= 0xc0 && b < 0xe0 ? 2 : 1;
    return length - i < needed ? i : length;
  }
  return length; // only continuation bytes at the end: invalid, decoding fails
}

/**
 * How many UTF-16 units of `text` to parse next: the longest prefix of at most `budget` UTF-8 bytes plus the
 * character after it (whole: surrogate pairs are never split), all of `text` when it fits.
 */
function pieceLength(text: string, budget: number): number {
  const length = text.length;
  // Every character takes at least one byte: more than `budget` + 1 units are never needed.
  let end = Math.min(length, budget + 1);
  const last = text.charCodeAt(end - 1);
  if (end < length && last >= 0xd800 && last <= 0xdbff) end++;
  const piece = end === length ? text : text.slice(0, end);
  const bytes = Buffer.byteLength(piece, 'utf8');
  // It fits, or it is ASCII and its last character is the one that overruns.
  if (bytes <= budget || bytes === piece.length) return end;
  let counted = 0;
  for (let i = 0; i < end; i++) {
    const code = text.charCodeAt(i);
    const pair = code >= 0xd800 && code <= 0xdbff && i + 1 < length;
    counted += code < 0x80 ? 1 : code < 0x800 ? 2 : pair ? 4 : 3;
    if (pair) i++;
    if (counted > budget) return i + 1;
  }
  return end;
}

/**
 * saxes with our handlers. Registering them in a subclass constructor matters for speed: nine handlers set with
 * `on()` on a plain SaxesParser push it into dictionary mode (slow properties), which made parsing 4× slower.
 *
 * Memory per stream matters too (one parser per connection, most of them idle): the handlers saxes calls with
 * itself as `this` are shared functions (no closures per parser), and what saxes builds alike for every
 * instance — its table of state functions, its root namespace bindings — is shared.
 */
class Saxes extends SaxesParser<SaxesOptions> {
  constructor(
    readonly owner: StreamParser,
    detached: DetachedHandlers,
  ) {
    super({ xmlns: true, forceXMLVersion: true, defaultXMLVersion: '1.0' });
    this.on('opentag', HANDLERS.onOpenTag);
    this.on('closetag', detached.onCloseTag);
    this.on('text', detached.onText);
    this.on('cdata', detached.onText);
    this.on('error', detached.onSaxesError);
    this.on('xmldecl', HANDLERS.onXmlDecl);
    this.on('doctype', HANDLERS.onDoctype);
    this.on('comment', HANDLERS.onComment);
    this.on('processinginstruction', HANDLERS.onProcessingInstruction);
    const internals = this as unknown as SaxesInternals;
    // Read only (saxes indexes it and calls its methods with itself as `this`), the same for every instance.
    SHARED.stateTable ??= internals.stateTable;
    internals.stateTable = SHARED.stateTable;
    // Read only after the constructor (written there only for `additionalNamespaces`, which we do not use).
    SHARED.ns ??= internals.ns;
    internals.ns = SHARED.ns;
  }

  override write(chunk: string | object | null): this {
    super.write(chunk);
    const internals = this as unknown as SaxesInternals;
    // saxes keeps the chunk it last parsed, which it never reads again after write() returns (the next write
    // replaces it): an idle stream should not hold its last stanza.
    internals.chunk = '';
    // After a closed stanza saxes still points at its tag (attributes, namespace bindings) until the next
    // open tag replaces both; between stanzas point them at the open stream header instead, as saxes itself
    // does after a self-closing element, so an idle stream does not hold its last stanza's tag.
    const { tags } = internals;
    if (tags.length === 1 && internals.state === S_TEXT) {
      internals.tag = tags[0]!;
      internals.topNS = tags[0]!.ns;
    }
    return this;
  }
}

/** The fields of saxes 6 that Saxes shares or releases (not part of its typed API). */
interface SaxesInternals {
  stateTable: unknown[];
  ns: Record<string, string>;
  chunk: string;
  state: number;
  tags: SaxesTagNS[];
  tag: SaxesTagNS | null;
  topNS: Record<string, string> | null;
}

/** Values of nearly every stream header, shared instead of copied. */
const COMMON = new Map([NS_STREAM, 'jabber:client', 'jabber:server', 'stream:stream'].map((v) => [v, v]));

/** A string that shares no memory with the one it was sliced from (V8 keeps the parent of a slice alive). */
function ownCopy(text: string): string {
  return COMMON.get(text) ?? Buffer.from(text, 'utf8').toString('utf8');
}

/** saxes 6's S_TEXT state (its `state` field between markup). */
const S_TEXT = 13;

/** Handlers saxes calls without a `this` (closures of their StreamParser). */
interface DetachedHandlers {
  onCloseTag(): void;
  onText(text: string): void;
  onSaxesError(err: Error): void;
}
/** Handlers saxes calls with itself as `this`: shared by every parser. */
interface SaxesHandlers {
  onOpenTag(this: Saxes, tag: SaxesTagNS): void;
  onXmlDecl(this: Saxes, decl: XMLDecl): void;
  onDoctype(this: Saxes): void;
  onComment(this: Saxes): void;
  onProcessingInstruction(this: Saxes): void;
}
/** Set in StreamParser's static block. */
let HANDLERS: SaxesHandlers;
const SHARED: { stateTable?: unknown[]; ns?: Record<string, string> } = {};
/** Attributes of a stream header once reported: saxes never reads them again. */
const NO_ATTRIBUTES: SaxesTagNS['attributes'] = Object.freeze({});

export class StreamParser {
  private readonly events: StreamParserEvents;
  private readonly maxBytes: number;
  private readonly maxDepth: number;
  private readonly maxAttributes: number;
  /** The last bytes of the previous chunk when they begin a UTF-8 sequence that the chunk did not finish. */
  private carry: Buffer | undefined;

  private parser: Saxes;
  /** 'ended' after `</stream:stream>` (reset() reopens), 'closed' after end(), 'dead' after an error. */
  private state: 'open' | 'ended' | 'closed' | 'dead' = 'open';
  private inWrite = false;
  private resetRequested = false;
  private handlerError: unknown;
  /** True after reset() until the first non-whitespace character of the new stream. */
  private skipLeadingWhitespace = false;

  // Document state (one saxes document = one stream).
  private sawHeader = false;
  /** Namespace declarations of the stream header (prefix → URI). */
  private headerNs: Record<string, string> = {};
  /** Open elements of the current depth-1 element; empty between stanzas. */
  private stack: Element[] = [];

  // Byte accounting. Positions are UTF-16 offsets in the current saxes document (saxes' `position`).
  /** Document offset of the current piece's first character. */
  private pieceStart = 0;
  private piece = '';
  /** Whether the current piece is pure ASCII (then bytes = characters); undefined until needed. */
  private pieceAscii: boolean | undefined;
  /** Document offset where the current unit (header, depth-1 element, gap between them) started. */
  private unitStart = 0;
  /** Bytes of the current unit read before the current piece. */
  private unitBytesBefore = 0;
  private restartAt = 0;

  constructor(events: StreamParserEvents, options: StreamParserOptions) {
    this.events = events;
    this.maxBytes = options.maxStanzaBytes;
    this.maxDepth = options.maxDepth ?? 64;
    this.maxAttributes = options.maxAttributes ?? 64;
    if (!(this.maxBytes >= 1)) throw new RangeError('maxStanzaBytes must be at least 1');
    this.parser = this.createParser();
  }

  // Defined in the class body so that they may call its private methods.
  static {
    HANDLERS = {
      onOpenTag(this: Saxes, tag: SaxesTagNS) {
        this.owner.onOpenTag(tag);
      },
      onXmlDecl(this: Saxes, decl: XMLDecl) {
        this.owner.onXmlDecl(decl);
      },
      onDoctype(this: Saxes) {
        this.owner.abort('restricted-xml', 'DOCTYPE is not allowed');
      },
      onComment(this: Saxes) {
        this.owner.abort('restricted-xml', 'comments are not allowed');
      },
      onProcessingInstruction(this: Saxes) {
        this.owner.abort('restricted-xml', 'processing instructions are not allowed');
      },
    };
  }

  write(chunk: Buffer | string): void {
    if (this.state !== 'open' || this.inWrite) return;
    let text: string;
    if (typeof chunk === 'string') {
      text = chunk;
    } else {
      let bytes = this.carry ? Buffer.concat([this.carry, chunk]) : chunk;
      this.carry = undefined;
      const complete = completeUtf8Length(bytes);
      if (complete < bytes.length) {
        this.carry = Buffer.from(bytes.subarray(complete));
        bytes = bytes.subarray(0, complete);
      }
      try {
        text = DECODER.decode(bytes);
      } catch {
        this.fail('unsupported-encoding', 'invalid UTF-8');
        return;
      }
    }
    this.feed(text);
  }

  /**
   * Stream restart (RFC 6120 §4.3.3): the next thing expected is a new stream header (leading whitespace is
   * skipped). Called from an event handler, it takes effect right after the element being reported.
   */
  reset(): void {
    if (this.state === 'dead' || this.state === 'closed') return;
    if (this.inWrite) {
      this.resetRequested = true;
      return;
    }
    this.restart();
  }

  /** The transport has closed: release the parser and ignore later input. Emits nothing. */
  end(): void {
    if (this.state !== 'dead') this.state = 'closed';
    this.resetRequested = false;
    this.stack = [];
  }

  // ---------------------------------------------------------------------------------------------------------

  private feed(input: string): void {
    let rest = input;
    this.inWrite = true;
    try {
      while (rest.length > 0 && this.state === 'open') {
        if (this.skipLeadingWhitespace) {
          const ws = LEADING_WHITESPACE.exec(rest)![0].length;
          if (ws === rest.length) return;
          rest = rest.slice(ws);
          this.skipLeadingWhitespace = false;
        }
        if (this.pieceStart === 0 && rest.charCodeAt(0) === 0xfeff) {
          // RFC 6120 §11.6: U+FEFF is never a byte order mark in XMPP; saxes would skip it as one.
          this.fail('not-well-formed', 'U+FEFF (zero width no-break space) before the stream header');
          return;
        }
        // Never hand saxes more than the current unit may still take, in bytes, plus the character that
        // overruns it: saxes then sees the same input before the limit is noticed however the bytes were
        // chunked, so the same bytes give the same outcome (a syntax error before the limit, or the limit).
        const n = pieceLength(rest, Math.min(MAX_PIECE, this.maxBytes - this.unitBytesBefore));
        const piece = n === rest.length ? rest : rest.slice(0, n);
        rest = n === rest.length ? '' : rest.slice(n);
        this.piece = piece;
        this.pieceAscii = undefined;
        try {
          this.parser.write(piece);
        } catch (err) {
          if (err === RESTART) {
            rest = piece.slice(this.restartAt - this.pieceStart) + rest;
            this.restart();
            continue;
          }
          if (err === ABORT) return;
          if (err === HANDLER_THREW) {
            this.state = 'dead';
            throw this.handlerError;
          }
          // saxes itself threw (an internal invariant): never let it out.
          this.fail('not-well-formed', err instanceof Error ? err.message : String(err));
          return;
        }
        const end = this.pieceStart + piece.length;
        this.unitBytesBefore = this.bytesSince(this.unitStart, end);
        this.pieceStart = end;
        if (this.unitBytesBefore > this.maxBytes) {
          this.fail('policy-violation', this.limitText());
          return;
        }
      }
    } finally {
      this.inWrite = false;
      // The input is not needed once parsed: an idle stream keeps no copy of its last chunk.
      this.piece = '';
    }
  }

  private limitText(): string {
    return this.stack.length > 0
      ? `stanza larger than ${this.maxBytes} bytes`
      : `more than ${this.maxBytes} bytes outside any stanza`;
  }

  /** UTF-8 bytes of the current unit from `from` to document offset `to` (inside or at the end of the piece). */
  private bytesSince(from: number, to: number): number {
    const pieceStart = this.pieceStart;
    const start = from > pieceStart ? from : pieceStart;
    const before = from > pieceStart ? 0 : this.unitBytesBefore;
    if (this.pieceAscii === undefined) {
      this.pieceAscii = Buffer.byteLength(this.piece, 'utf8') === this.piece.length;
    }
    if (this.pieceAscii) return before + (to - start);
    return before + Buffer.byteLength(this.piece.slice(start - pieceStart, to - pieceStart), 'utf8');
  }

  /** Starts a new unit at document offset `at` (which lies in the current piece). */
  private startUnit(at: number): void {
    this.unitStart = at;
    this.unitBytesBefore = 0;
  }

  private restart(): void {
    this.resetRequested = false;
    this.skipLeadingWhitespace = true;
    this.parser = this.createParser();
    this.sawHeader = false;
    this.headerNs = {};
    this.stack = [];
    this.pieceStart = 0;
    this.piece = '';
    this.pieceAscii = undefined;
    this.unitStart = 0;
    this.unitBytesBefore = 0;
    if (this.state === 'ended') this.state = 'open';
  }

  /** Reports a fatal error (once) and marks the parser dead. */
  private fail(condition: StreamParserErrorCondition, text: string): void {
    if (this.state === 'dead' || this.state === 'closed') return;
    this.state = 'dead';
    this.stack = [];
    this.events.error(condition, text);
  }

  /** fail() from inside a saxes callback: also stops saxes. */
  private abort(condition: StreamParserErrorCondition, text: string): never {
    try {
      this.fail(condition, text);
    } catch (err) {
      this.handlerError = err;
      throw HANDLER_THREW;
    }
    throw ABORT;
  }

  /** Runs a user event handler from inside a saxes callback. */
  private emit(call: () => void): void {
    try {
      call();
    } catch (err) {
      this.handlerError = err;
      throw HANDLER_THREW;
    }
    if (this.resetRequested) {
      this.restartAt = this.parser.position;
      throw RESTART;
    }
    if (this.state !== 'open') throw ABORT;
  }

  private createParser(): Saxes {
    return new Saxes(this, {
      onCloseTag: () => this.onCloseTag(),
      onText: (text) => this.onText(text),
      onSaxesError: (err) => this.onSaxesError(err),
    });
  }

  private onSaxesError(err: Error): never {
    // saxes prefixes "line:column: " where it noticed the error, which for text can depend on where the input was
    // cut into chunks: dropped, so that the same bytes give the same error. Its messages are stable within saxes 6.
    const message = err.message.replace(/^\d+:\d+: /, '');
    // Reported by saxes or by onText, depending on where the input was cut: one text for both.
    if (message === 'text data outside of root node.') this.abort('not-well-formed', TEXT_OUTSIDE);
    if (message.endsWith('inappropriately located doctype declaration.')) {
      this.abort('restricted-xml', 'DOCTYPE is not allowed');
    }
    if (message.endsWith('undefined entity.')) {
      this.abort('restricted-xml', 'entity references other than the predefined ones are not allowed');
    }
    if (message.endsWith('XML declaration must be at the start of the document.')) {
      this.abort('restricted-xml', 'processing instructions are not allowed');
    }
    if (message.endsWith('the XML declaration must appear at the start of the document.')) {
      this.abort('restricted-xml', 'processing instructions are not allowed');
    }
    this.abort('not-well-formed', message);
  }

  private onXmlDecl(decl: XMLDecl): void {
    if (decl.version !== '1.0') this.abort('not-well-formed', `XML version ${decl.version ?? ''} is not 1.0`);
    if (decl.encoding !== undefined && decl.encoding.toUpperCase() !== 'UTF-8') {
      this.abort('unsupported-encoding', `encoding ${decl.encoding} is not UTF-8`);
    }
  }

  private onOpenTag(tag: SaxesTagNS): void {
    if (!this.sawHeader) {
      this.onHeader(tag);
      return;
    }
    const stack = this.stack;
    const depth = stack.length + 1;
    if (depth > this.maxDepth) this.abort('policy-violation', `elements nested deeper than ${this.maxDepth}`);

    const attributes = tag.attributes;
    const attrs: Record<string, string> = {};
    let count = 0;
    let prefixed = tag.prefix !== '';
    for (const key in attributes) {
      const attr = attributes[key]!;
      attrs[key] = attr.value;
      count++;
      if (attr.prefix !== '' && attr.prefix !== 'xmlns') prefixed = true;
    }
    if (count > this.maxAttributes) {
      this.abort('policy-violation', `more than ${this.maxAttributes} attributes on <${tag.name}>`);
    }
    const el = new Element(tag.name, attrs, []);
    el.xmlns = tag.uri === '' ? undefined : tag.uri;
    if (prefixed) this.copyPrefixDeclarations(tag, el);
    if (depth > 1) stack[depth - 2]!.children.push(el);
    stack.push(el);
  }

  /**
   * A stanza is written into another stream standalone: every prefix it uses that it does not declare itself
   * must have come from the stream header, and that declaration is added to the depth-1 element.
   */
  private copyPrefixDeclarations(tag: SaxesTagNS, el: Element): void {
    const root = this.stack[0] ?? el;
    const need = (prefix: string): void => {
      if (prefix === '' || prefix === 'xml' || prefix === 'xmlns') return;
      const key = 'xmlns:' + prefix;
      if (key in el.attrs) return;
      for (const open of this.stack) if (key in open.attrs) return;
      const uri = this.headerNs[prefix];
      if (uri !== undefined) root.attrs[key] = uri;
    };
    need(tag.prefix);
    const attributes = tag.attributes;
    for (const key in attributes) need(attributes[key]!.prefix);
  }

  private onHeader(tag: SaxesTagNS): void {
    if (tag.local !== 'stream' || tag.uri !== NS_STREAM) {
      if (tag.local === 'stream' || tag.uri === NS_STREAM) {
        this.abort(
          'invalid-namespace',
          `stream header must be {${NS_STREAM}}stream, not {${tag.uri}}${tag.local}`,
        );
      }
      this.abort('not-well-formed', `<${tag.name}> before the stream header`);
    }
    const attrs: Record<string, string> = {};
    let count = 0;
    for (const key in tag.attributes) {
      attrs[key] = tag.attributes[key]!.value;
      count++;
    }
    if (count > this.maxAttributes) {
      this.abort('policy-violation', `more than ${this.maxAttributes} attributes on the stream header`);
    }
    const position = this.parser.position;
    if (this.bytesSince(this.unitStart, position) > this.maxBytes) {
      this.abort('policy-violation', `stream header larger than ${this.maxBytes} bytes`);
    }
    this.startUnit(position);
    this.sawHeader = true;
    // saxes keeps the header's tag open for the whole stream. Its attributes have been copied into `attrs`;
    // its name and namespace URIs are slices of the chunk that carried the header, which they would keep
    // alive: they are replaced by copies of their own.
    tag.attributes = NO_ATTRIBUTES;
    tag.name = ownCopy(tag.name);
    tag.uri = NS_STREAM;
    const ns: Record<string, string> = {};
    for (const prefix in tag.ns) ns[prefix] = tag.ns[prefix] = ownCopy(tag.ns[prefix]!);
    this.headerNs = ns;
    const namespaces = { default: ns[''], stream: ns['stream'] };
    this.emit(() => this.events.streamStart(attrs, namespaces));
  }

  private onCloseTag(): void {
    const stack = this.stack;
    const el = stack.pop();
    if (el === undefined) {
      // The stream header's end tag (saxes has checked that it matches).
      this.state = 'ended';
      this.emit(() => this.events.streamEnd());
      return;
    }
    if (stack.length > 0) return;
    const position = this.parser.position;
    if (this.bytesSince(this.unitStart, position) > this.maxBytes) {
      this.abort('policy-violation', `stanza larger than ${this.maxBytes} bytes`);
    }
    this.startUnit(position);
    this.emit(() => this.events.stanza(el));
  }

  private onText(text: string): void {
    const stack = this.stack;
    const n = stack.length;
    if (n > 0) {
      if (text.length === 0) return;
      const children = stack[n - 1]!.children;
      const last = children.length - 1;
      const prev = children[last];
      if (typeof prev === 'string') children[last] = prev + text;
      else children.push(text);
      return;
    }
    if (!WHITESPACE.test(text)) {
      this.abort(
        'not-well-formed',
        this.sawHeader ? 'text between stanzas must be whitespace' : TEXT_OUTSIDE,
      );
    }
    if (this.sawHeader) {
      // Text at depth 1 is reported when the next '<' is read: the next element starts there.
      this.startUnit(this.parser.position - 1);
    }
  }
}

/**
 * Parses one element from a string with the same rules as a stream (used by tests and tools). Prefixes must be
 * declared in the string; an element with no default namespace has `xmlns` undefined.
 */
export function parseElement(source: string, options: Partial<StreamParserOptions> = {}): Element {
  const found: Element[] = [];
  let failure: string | undefined;
  const parser = new StreamParser(
    {
      streamStart: () => {},
      stanza: (el) => found.push(el),
      streamEnd: () => {},
      error: (condition, text) => {
        failure = `${condition}: ${text}`;
      },
    },
    { ...options, maxStanzaBytes: options.maxStanzaBytes ?? Number.MAX_SAFE_INTEGER },
  );
  parser.write(`<x-element-wrapper:stream xmlns:x-element-wrapper='${NS_STREAM}'>`);
  parser.write(source);
  parser.write('</x-element-wrapper:stream>');
  if (failure !== undefined) throw new Error(failure);
  if (found.length !== 1 || found[0] === undefined)
    throw new Error(`expected one element, got ${found.length}`);
  return found[0];
}
