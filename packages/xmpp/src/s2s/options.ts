/** What the s2s streams share: limits, the router interface and the context the manager gives each stream. */
import type { SecureContext } from 'node:tls';
import type { C2sLogger } from '../c2s/connection.js';
import type { TrustedCas } from './certificates.js';
import type { Element } from '../xml/element.js';
import type { DialbackVerdict } from './dialback.js';

export type S2sLogger = C2sLogger;

export type BounceCondition = 'remote-server-not-found' | 'remote-server-timeout';

/** The incoming stream a stanza came on, as the router sees it. */
export interface S2sIncomingStream {
  /** Output barrier (as C2sSession.hold): what the stream writes after this waits until `durable` has settled. */
  hold(durable: Promise<unknown>): void;
}

/** The routing layer (the message server's federation rules); the engine knows XMPP, not the IRSP. */
export interface S2sRouter {
  /**
   * A stanza from another server: its `from` domain is authenticated on the stream it came on, its `to` domain is
   * one of ours, both are valid JIDs (canonicalised). Stanzas of one stream are handed over one at a time, in order.
   */
  incoming(stanza: Element, stream: S2sIncomingStream): void | Promise<void>;
  /** A stanza given to send() could not be delivered (RFC 6120 §8.3.3.15/16): the sender is to be told. */
  bounced(stanza: Element, condition: BounceCondition): void;
}

export interface S2sLimits {
  /** Largest stanza accepted from a peer (bytes); larger → policy-violation. */
  maxStanzaBytes: number;
  /** TCP connect to one candidate address. */
  connectTimeoutMs: number;
  /** From TCP connect to an authenticated stream (both directions); also the wait for a dialback verification. */
  negotiationTimeoutMs: number;
  /** Silence after which an incoming stream is closed. */
  idleTimeoutMs: number;
  /** An outgoing stream with nothing to send for this long is closed. */
  outgoingIdleMs: number;
  /** A stanza not written to an authenticated stream within this time is bounced. */
  bounceTimeoutMs: number;
  /** Stanzas waiting per remote domain; more are bounced at once. */
  maxQueuedStanzas: number;
  /** Output queued on an outgoing socket above which stanzas wait in the queue until it drains (bytes). */
  maxBufferedBytes: number;
  /** Reconnect back-off after a failed attempt: base · 2^(failures − 1), at most max. */
  reconnectBaseMs: number;
  reconnectMaxMs: number;
  /** Dialback results awaiting verification on one incoming stream; more end it with policy-violation. */
  maxPendingDialbacks: number;
  /** Dialback results awaiting verification on all incoming streams; more are answered resource-constraint. */
  maxPendingDialbacksTotal: number;
  /**
   * XEP-0198 on our outgoing streams: an ack is asked for (`<r/>`) after this many stanzas, or when output has been
   * unacknowledged for `ackRequestMs`; above `maxUnackedStanzas` stanzas wait in the route's queue until acks come.
   */
  ackRequestStanzas: number;
  ackRequestMs: number;
  maxUnackedStanzas: number;
}

export const DEFAULT_S2S_LIMITS: S2sLimits = {
  maxStanzaBytes: 256 * 1024,
  connectTimeoutMs: 10_000,
  negotiationTimeoutMs: 30_000,
  idleTimeoutMs: 600_000,
  outgoingIdleMs: 300_000,
  bounceTimeoutMs: 30_000,
  maxQueuedStanzas: 10_000,
  maxBufferedBytes: 1024 * 1024,
  reconnectBaseMs: 1_000,
  reconnectMaxMs: 60_000,
  maxPendingDialbacks: 16,
  maxPendingDialbacksTotal: 256,
  ackRequestStanzas: 10,
  ackRequestMs: 2_000,
  maxUnackedStanzas: 1_000,
};

/** What an incoming stream needs from the manager. */
export interface IncomingContext {
  domains: ReadonlySet<string>;
  /** Server side of STARTTLS (our certificate). */
  secureContext: SecureContext;
  /** For the certificate the peer presents (SASL EXTERNAL). */
  trustedCas: TrustedCas;
  dialbackSecret: string;
  router: S2sRouter;
  logger: S2sLogger;
  limits: S2sLimits;
  /** Asks the authoritative server of `remote` whether `key` is valid (XEP-0220 §2.2), over an outgoing stream. */
  verifyKey(local: string, remote: string, streamId: string, key: string): Promise<DialbackVerdict>;
}

/** Our side of outgoing TLS: the client certificate we present and the CAs we trust. */
export interface OutgoingTls {
  cert: string;
  key: string;
  ca: string | string[] | undefined;
}
