/**
 * What carries one client stream: the TCP byte stream of RFC 6120 (with STARTTLS) or WebSocket messages of
 * RFC 7395. A transport turns what it reads into stream events and writes what the connection sends in its own
 * framing; the connection (SASL, bind, stanza checks, limits, liveness) is the same over both.
 */
import type { Element } from '../xml/element.js';
import type { StreamParserEvents } from '../xml/stream-parser.js';

export interface C2sTransportEvents extends StreamParserEvents {
  /** Queued output has been handed to the network. */
  drain(): void;
  /** Nothing read or written for the idle timeout. */
  idle(): void;
  /** A network error (the transport closes after it). */
  transportError(error: Error): void;
  /** The transport is closed, whatever the reason. */
  closed(): void;
}

export interface C2sTransport {
  readonly remoteAddress: string | undefined;
  /** Encrypted from the first byte (direct TLS, `wss:`): there is no STARTTLS to offer. */
  readonly secure: boolean;
  /** Written output not yet handed to the network (bytes). */
  readonly bufferedBytes: number;
  /** True when the last write went above the high-water mark and a `drain` will follow. */
  readonly needsDrain: boolean;
  readonly destroyed: boolean;
  /** Starts reading; events go to `events` from now on. Called once. */
  start(events: C2sTransportEvents): void;
  /** The stream header answering the client's (RFC 6120 §4.7, RFC 7395 §3.4). */
  header(id: string, domain: string): string;
  /** A top-level element as it is written on this transport. */
  element(element: Element): string;
  /** The stream close (RFC 6120 §4.4 `</stream:stream>`, RFC 7395 §3.6 `<close/>`). */
  readonly close: string;
  /**
   * Writes text produced by header(), element() or close; false when output is queued (back-pressure). `written`
   * is called once the text has been handed to the operating system, or with an error when it never will be.
   */
  write(text: string, written?: (error?: Error | null) => void): boolean;
  /** Holds writes until `uncork()`, which sends them at once (one TLS record); optional. */
  cork?(): void;
  uncork?(): void;
  /** A keep-alive towards the client; false when output is queued. */
  keepalive(): boolean;
  /** The next input is a new stream header (stream restart, RFC 6120 §4.3.3, RFC 7395 §3.7). */
  restart(): void;
  pause(): void;
  resume(): void;
  /** Ends after the queued output has been written. */
  end(): void;
  /** Ends now. */
  destroy(): void;
  /** STARTTLS (RFC 6120 §5), only on a transport that is not secure yet; reports the TLS version once done. */
  startTls?(onSecure: (protocol: string | null) => void): void;
}
