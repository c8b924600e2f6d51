/**
 * RFC 6120 over TCP: one byte stream through the strict stream parser, keep-alives as whitespace (§4.6.1), and
 * STARTTLS (§5) by wrapping the socket in place. Direct TLS (XEP-0368) hands over a TLS socket instead.
 */
import type { Socket } from 'node:net';
import { TLSSocket, type SecureContext } from 'node:tls';
import { NS } from '../namespaces.js';
import type { Element } from '../xml/element.js';
import { StreamParser } from '../xml/stream-parser.js';
import { writeInTick } from '../tick-write.js';
import type { C2sTransport, C2sTransportEvents } from './transport.js';

export interface TcpTransportOptions {
  /** The socket is already TLS (direct TLS, XEP-0368). */
  directTls: boolean;
  /** For STARTTLS. */
  secureContext: SecureContext;
  maxStanzaBytes: number;
  idleTimeoutMs: number;
}

/** On each socket: the transport it carries (for the shared listeners set in TcpTransport's static block). */
const TRANSPORT = Symbol('c2s transport');
type OwnedSocket = Socket & { [TRANSPORT]: TcpTransport };
let onData: (this: OwnedSocket, chunk: Buffer) => void;
let onTimeout: (this: OwnedSocket) => void;
let onDrain: (this: OwnedSocket) => void;
let onError: (this: OwnedSocket, error: Error) => void;
let onClose: (this: OwnedSocket) => void;

export class TcpTransport implements C2sTransport {
  readonly remoteAddress: string | undefined;
  readonly secure: boolean;
  readonly close = '</stream:stream>';
  private socket: Socket;
  private parser: StreamParser | undefined;
  private events: C2sTransportEvents | undefined;

  constructor(
    socket: Socket,
    private readonly options: TcpTransportOptions,
  ) {
    this.socket = socket;
    this.remoteAddress = socket.remoteAddress;
    this.secure = options.directTls;
  }

  get bufferedBytes(): number {
    return this.socket.writableLength;
  }

  get needsDrain(): boolean {
    return this.socket.writableNeedDrain;
  }

  get destroyed(): boolean {
    return this.socket.destroyed;
  }

  start(events: C2sTransportEvents): void {
    this.events = events;
    this.parser = new StreamParser(events, { maxStanzaBytes: this.options.maxStanzaBytes });
    this.attach(this.socket);
  }

  header(id: string, domain: string): string {
    return (
      `<?xml version='1.0'?><stream:stream xmlns='${NS.client}' xmlns:stream='${NS.stream}' ` +
      `id='${id}' from='${domain}' version='1.0' xml:lang='en'>`
    );
  }

  element(element: Element): string {
    return element.toString();
  }

  /** Writes of one tick leave as one TLS record (writeInTick). */
  write(text: string, written?: (error?: Error | null) => void): boolean {
    return writeInTick(this.socket, text, written);
  }

  cork(): void {
    this.socket.cork();
  }

  uncork(): void {
    this.socket.uncork();
  }

  keepalive(): boolean {
    return this.socket.write(' ');
  }

  restart(): void {
    this.parser?.reset();
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  end(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  startTls(onSecure: (protocol: string | null) => void): void {
    const raw = this.socket;
    // <proceed/> leaves in clear before the socket is wrapped, not at the next tick through the TLS layer.
    while (raw.writableCorked > 0) raw.uncork();
    raw.removeListener('data', onData);
    raw.setTimeout(0);
    // Wrapped in the same tick, before any more bytes are read from the raw socket (docs/xmpp-engine-notes.md, pitfall 2).
    const secure = new TLSSocket(raw, { isServer: true, secureContext: this.options.secureContext });
    this.socket = secure;
    this.attach(secure);
    secure.on('secure', () => onSecure(secure.getProtocol()));
  }

  private attach(socket: Socket): void {
    (socket as OwnedSocket)[TRANSPORT] = this;
    socket.setNoDelay(true);
    socket.setTimeout(this.options.idleTimeoutMs);
    socket.on('data', onData);
    socket.on('timeout', onTimeout);
    socket.on('drain', onDrain);
    socket.on('error', onError);
    socket.on('close', onClose);
  }

  // The socket listeners are shared by every transport (no closures per connection, most of which are idle):
  // Node calls them with the socket as `this`, which points back to its transport.
  static {
    onData = function (this: OwnedSocket, chunk: Buffer) {
      this[TRANSPORT].parser!.write(chunk);
    };
    onTimeout = function (this: OwnedSocket) {
      this[TRANSPORT].events!.idle();
    };
    onDrain = function (this: OwnedSocket) {
      this[TRANSPORT].events!.drain();
    };
    onError = function (this: OwnedSocket, error: Error) {
      this[TRANSPORT].events!.transportError(error);
    };
    onClose = function (this: OwnedSocket) {
      this[TRANSPORT].events!.closed();
    };
  }
}
