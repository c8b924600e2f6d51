/**
 * RFC 6120 over TCP: one byte stream through the strict stream parser, keep-alives as whitespace (§4.6.1), and
 * STARTTLS (§5) by wrapping the socket in place. Direct TLS (XEP-0368) hands over a TLS socket instead.
 */
import type { Socket } from 'node:net';
import { TLSSocket, type SecureContext } from 'node:tls';
import { NS } from '../namespaces.js';
import type { Element } from '../xml/element.js';
import { StreamParser } from '../xml/stream-parser.js';
import type { C2sTransport, C2sTransportEvents } from './transport.js';

export interface TcpTransportOptions {
  /** The socket is already TLS (direct TLS, XEP-0368). */
  directTls: boolean;
  /** For STARTTLS. */
  secureContext: SecureContext;
  maxStanzaBytes: number;
  idleTimeoutMs: number;
}

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
    this.attach(this.socket, events);
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

  write(text: string): boolean {
    return this.socket.write(text);
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
    raw.removeListener('data', this.onData);
    raw.setTimeout(0);
    // Wrapped in the same tick, before any more bytes are read from the raw socket (xmpp-notes pitfall 2).
    const secure = new TLSSocket(raw, { isServer: true, secureContext: this.options.secureContext });
    this.socket = secure;
    this.attach(secure, this.events!);
    secure.on('secure', () => onSecure(secure.getProtocol()));
  }

  private attach(socket: Socket, events: C2sTransportEvents): void {
    socket.setNoDelay(true);
    socket.setTimeout(this.options.idleTimeoutMs);
    socket.on('data', this.onData);
    socket.on('timeout', () => events.idle());
    socket.on('drain', () => events.drain());
    socket.on('error', (error) => events.transportError(error));
    socket.on('close', () => events.closed());
  }

  private readonly onData = (chunk: Buffer): void => {
    this.parser!.write(chunk);
  };
}
