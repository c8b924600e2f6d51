/**
 * RFC 7395 over a WebSocket (the `ws` package): each text message is one element (framing.ts), `<open/>` and
 * `<close/>` stand for the stream tags, TLS is the `wss:` layer underneath (§3.9: no STARTTLS), and keep-alives
 * are WebSocket pings (§3.8, RFC 6455 §5.5.2): whitespace keep-alives must not be used.
 */
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import { NS } from '../namespaces.js';
import type { Element } from '../xml/element.js';
import type { StreamParserErrorCondition } from '../xml/stream-parser.js';
import { FRAMED_CLOSE, FrameParser, framedElement, framedOpen } from './framing.js';
import type { C2sTransport, C2sTransportEvents } from './transport.js';

export interface WebSocketTransportOptions {
  maxStanzaBytes: number;
  idleTimeoutMs: number;
}

export class WebSocketTransport implements C2sTransport {
  readonly remoteAddress: string | undefined;
  readonly secure = true;
  readonly close = FRAMED_CLOSE;
  private readonly frames: FrameParser;
  /** Like the stream parser: a header is expected, the stream is open, closed by the client, or failed. */
  private state: 'header' | 'open' | 'ended' | 'dead' = 'header';
  private events: C2sTransportEvents | undefined;

  /** `socket` is the TLS socket under the WebSocket: its write queue and idle timer are the connection's. */
  constructor(
    private readonly ws: WebSocket,
    private readonly socket: Socket,
    private readonly options: WebSocketTransportOptions,
  ) {
    this.remoteAddress = socket.remoteAddress;
    this.frames = new FrameParser(options.maxStanzaBytes);
  }

  get bufferedBytes(): number {
    return this.ws.bufferedAmount;
  }

  get needsDrain(): boolean {
    return this.socket.writableNeedDrain;
  }

  get destroyed(): boolean {
    return this.ws.readyState !== this.ws.OPEN;
  }

  start(events: C2sTransportEvents): void {
    this.events = events;
    // ws turned the socket's timeout off when it took the socket over.
    this.socket.setTimeout(this.options.idleTimeoutMs);
    this.socket.on('timeout', () => events.idle());
    this.socket.on('drain', () => events.drain());
    // Text and binary messages both arrive as one Buffer (binaryType 'nodebuffer', the default).
    this.ws.on('message', (data, isBinary) => this.onMessage(data as Buffer, isBinary));
    this.ws.on('error', (error) => events.transportError(error));
    this.ws.on('close', () => events.closed());
  }

  header(id: string, domain: string): string {
    return framedOpen(id, domain);
  }

  element(element: Element): string {
    return framedElement(element);
  }

  write(text: string, written?: (error?: Error | null) => void): boolean {
    this.ws.send(text, written);
    return !this.socket.writableNeedDrain;
  }

  keepalive(): boolean {
    this.ws.ping();
    return !this.socket.writableNeedDrain;
  }

  restart(): void {
    if (this.state !== 'dead') this.state = 'header';
  }

  pause(): void {
    this.ws.pause();
  }

  resume(): void {
    this.ws.resume();
  }

  /** The WebSocket closing handshake follows our `<close/>` (RFC 7395 §3.6). */
  end(): void {
    this.ws.close(1000);
  }

  destroy(): void {
    this.ws.terminate();
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    if (this.state === 'ended' || this.state === 'dead') return;
    const events = this.events!;
    if (isBinary) return this.fail('bad-format', 'binary messages are not allowed (RFC 7395 §3.2)');
    const max = this.options.maxStanzaBytes;
    if (data.length > max) return this.fail('policy-violation', `stanza larger than ${max} bytes`);
    const frame = this.frames.parse(data.toString('utf8'));
    if (!('element' in frame)) return this.fail(frame.condition, frame.text);
    const { element } = frame;
    const framing = element.xmlns === NS.framing;
    if (this.state === 'header') {
      if (framing && element.local === 'open') {
        this.state = 'open';
        // A framed stream is a client stream: stanzas without a namespace of their own are `jabber:client`.
        events.streamStart(element.attrs, { default: NS.client, stream: NS.stream });
        return;
      }
      return element.local === 'open'
        ? this.fail('invalid-namespace', `<open/> must be in ${NS.framing}`)
        : this.fail('not-well-formed', `<${element.name}> before <open/>`);
    }
    if (framing && element.local === 'close') {
      this.state = 'ended';
      events.streamEnd();
      return;
    }
    events.stanza(element);
  }

  private fail(condition: StreamParserErrorCondition, text: string): void {
    this.state = 'dead';
    this.events!.error(condition, text);
  }
}
