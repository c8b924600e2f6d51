/**
 * One outgoing server-to-server stream (RFC 6120 §13), from one of our domains to one remote domain: stream
 * header → STARTTLS (required; the peer's certificate is checked against our trusted CAs, §13.7.2) → SASL
 * EXTERNAL when the certificate is valid for the domain and the peer offers it (XEP-0178 §3), else dialback
 * (XEP-0220 §2.1: our `db:result`, the peer's verdict) → stanzas. The same stream carries our `db:verify`
 * requests when we check a key the remote domain gave one of our incoming streams (§2.2); those may go out as
 * soon as TLS is up, before the stream is authenticated. When the peer offers XEP-0198 stream management it is
 * enabled, and the stanzas it has not acknowledged when the stream dies are handed back (to be sent again on a new
 * stream: s2s has no resumption).
 */
import { isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { streamError, type StreamErrorCondition, isStreamError, streamErrorCondition } from '../errors.js';
import { NS } from '../namespaces.js';
import {
  StreamManagement,
  ackElement,
  handledCountTooHigh,
  parseH,
  requestElement,
} from '../stream-management.js';
import { Element, xml } from '../xml/element.js';
import { StreamParser } from '../xml/stream-parser.js';
import { writeInTick } from '../tick-write.js';
import { serverCertificateValidFor } from './certificates.js';
import { dialbackKey, readVerdict, type DialbackVerdict } from './dialback.js';
import type { S2sAuthMethod } from './link.js';
import type { OutgoingTls, S2sLimits, S2sLogger } from './options.js';

/** Why a stream ended before it was ready: the peer is not there or refused us, or it did not answer in time. */
export type OutgoingFailure = 'not-found' | 'timeout';

export interface OutgoingEvents {
  /** TLS is up and the peer's features have arrived: `db:verify` requests can be sent. */
  secured(): void;
  /** Authenticated: stanzas can be sent. */
  ready(): void;
  /** Output queued on the socket has been written. */
  drain(): void;
  /** The peer's answer to one of our `db:verify` requests. */
  verified(id: string, verdict: DialbackVerdict): void;
  /**
   * The stream is gone; `failure` when it never became ready. `unacknowledged`: stanzas written with stream
   * management on that the peer did not acknowledge, in order (it may or may not have them).
   */
  closed(failure: OutgoingFailure | undefined, unacknowledged: Element[]): void;
}

export interface OutgoingStreamOptions {
  local: string;
  remote: string;
  tls: OutgoingTls;
  dialbackSecret: string;
  logger: S2sLogger;
  limits: S2sLimits;
  events: OutgoingEvents;
}

type Phase = 'features' | 'starttls' | 'secure-features' | 'sasl' | 'sasl-restart' | 'dialback' | 'ready';

const STREAM_CLOSE = '</stream:stream>';
const STANZA_NAMESPACES = new Set<string>([NS.client, NS.server]);

export class OutgoingStream {
  private socket: Socket;
  private readonly parser: StreamParser;
  private phase: Phase = 'features';
  /** The id the peer gave the current stream: the dialback key is bound to it (XEP-0185). */
  private streamId: string | undefined;
  private peerVerified = false;
  private dialbackOffered = false;
  private secured = false;
  private closed = false;
  private gone = false;
  private failure: OutgoingFailure | undefined;
  private readonly timer: NodeJS.Timeout;
  /** The peer offered XEP-0198 in its features; `sm` once we enabled it. */
  private smOffered = false;
  private sm: StreamManagement | undefined;
  private ackTimer: NodeJS.Timeout | undefined;

  constructor(
    socket: Socket,
    private readonly options: OutgoingStreamOptions,
  ) {
    this.socket = socket;
    this.parser = new StreamParser(
      {
        streamStart: (attrs, namespaces) => this.onStreamStart(attrs, namespaces.default),
        stanza: (element) => this.onElement(element),
        streamEnd: () => this.end(),
        error: (condition, text) => this.fail(condition, text),
      },
      { maxStanzaBytes: options.limits.maxStanzaBytes },
    );
    this.attach(socket);
    this.timer = setTimeout(() => {
      if (this.phase !== 'ready') this.fail('connection-timeout', 'negotiation took too long', 'timeout');
    }, options.limits.negotiationTimeoutMs);
    this.sendHeader();
  }

  /** Whether `db:verify` requests can be sent now. */
  get canVerify(): boolean {
    return this.secured && !this.closed;
  }

  /**
   * Whether a stanza may be written now: the stream is open, the socket holds less than the limit and the peer has
   * not too many stanzas to acknowledge (else wait for `drain`).
   */
  /** How and when the peer was authenticated (for operators: the admin API's s2s links). */
  authentication: { method: S2sAuthMethod; since: Date } | undefined;

  get accepting(): boolean {
    const { limits } = this.options;
    return (
      !this.closed &&
      !this.socket.destroyed &&
      this.socket.writableLength < limits.maxBufferedBytes &&
      this.unackedCount < limits.maxUnackedStanzas
    );
  }

  /** Writes a stanza (when `accepting`). */
  send(stanza: Element): void {
    if (this.closed || this.socket.destroyed) return;
    writeInTick(this.socket, forServerStream(stanza));
    if (this.sm === undefined) return;
    if (this.sm.sent({ stanza }, this.options.limits.ackRequestStanzas)) this.requestAck();
    else this.armAckRequest();
  }

  /** Stanzas written and not yet acknowledged (0 without stream management). */
  get unackedCount(): number {
    return this.sm?.unackedCount ?? 0;
  }

  /** Asks the peer to acknowledge what it has (XEP-0198 §4). */
  requestAck(): void {
    if (this.sm === undefined) return;
    this.sm.requested();
    this.write(requestElement().toString());
    clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    this.armAckRequest();
  }

  private armAckRequest(): void {
    if (this.ackTimer !== undefined) return;
    this.ackTimer = setTimeout(() => {
      this.ackTimer = undefined;
      if (!this.closed && this.unackedCount > 0) this.requestAck();
    }, this.options.limits.ackRequestMs);
    this.ackTimer.unref();
  }

  /** XEP-0220 §2.2: asks the peer (authoritative for `remote`) whether `key` is one it gave for stream `id`. */
  verify(id: string, key: string): void {
    const { local, remote } = this.options;
    this.write(xml('db:verify', { from: local, to: remote, id }, key).toString());
  }

  close(condition?: StreamErrorCondition): void {
    if (condition) this.fail(condition);
    else this.end();
  }

  // --- the socket ---------------------------------------------------------------------------------------------

  private attach(socket: Socket): void {
    socket.setNoDelay(true);
    socket.on('data', this.onData);
    socket.on('drain', () => this.options.events.drain());
    socket.on('error', (error) =>
      this.options.logger.debug({ remote: this.options.remote, err: error.message }, 's2s socket error'),
    );
    socket.on('close', () => this.teardown());
  }

  private readonly onData = (chunk: Buffer): void => {
    try {
      this.parser.write(chunk);
    } catch (error) {
      // A bug in a handler: this stream ends, the process goes on.
      this.options.logger.error(
        { remote: this.options.remote, err: error instanceof Error ? error.message : String(error) },
        's2s handler failed',
      );
      this.fail('internal-server-error');
    }
  };

  private write(text: string): void {
    if (!this.closed && !this.socket.destroyed) this.socket.write(text);
  }

  private sendHeader(): void {
    const { local, remote } = this.options;
    this.write(
      `<?xml version='1.0'?><stream:stream xmlns='${NS.server}' xmlns:stream='${NS.stream}' ` +
        `xmlns:db='${NS.dialback}' from='${local}' to='${remote}' version='1.0' xml:lang='en'>`,
    );
  }

  // --- negotiation -------------------------------------------------------------------------------------------------

  private onStreamStart(attrs: Record<string, string>, defaultNs: string | undefined): void {
    if (defaultNs !== NS.server) return this.fail('invalid-namespace', undefined, 'not-found');
    this.streamId = attrs.id;
  }

  private onElement(element: Element): void {
    if (isStreamError(element)) return this.onStreamError(element);
    if (element.xmlns === NS.sm && this.phase === 'ready') return this.onStreamManagement(element);
    if (element.xmlns === NS.stream && element.local === 'features') return this.onFeatures(element);
    if (element.xmlns === NS.tls && this.phase === 'starttls') {
      if (element.name === 'proceed') return this.upgrade();
      // `<failure/>`: the peer closes the stream itself (RFC 6120 §5.4.2.2).
      this.failure = 'not-found';
      return this.end();
    }
    if (element.xmlns === NS.sasl && this.phase === 'sasl') return this.onSaslOutcome(element);
    if (element.xmlns === NS.dialback && element.attrs.type !== undefined) {
      const verdict = readVerdict(element);
      if (element.local === 'verify' && element.attrs.id !== undefined && verdict !== undefined) {
        return this.options.events.verified(element.attrs.id, verdict);
      }
      if (element.local === 'result' && this.phase === 'dialback') return this.onDialbackResult(verdict);
    }
    // Streams are one-way (RFC 6120 §13.2): nothing else belongs on the stream we opened.
    this.fail('unsupported-stanza-type', undefined, 'not-found');
  }

  private onStreamError(element: Element): void {
    this.options.logger.info(
      { remote: this.options.remote, condition: streamErrorCondition(element) },
      's2s outgoing stream: stream error from the peer',
    );
    if (this.phase !== 'ready') this.failure = 'not-found';
    this.end();
  }

  private onFeatures(features: Element): void {
    switch (this.phase) {
      case 'features':
        if (!features.getChild('starttls', NS.tls)) {
          return this.fail('policy-violation', 'STARTTLS is required', 'not-found');
        }
        this.phase = 'starttls';
        this.write(xml('starttls', { xmlns: NS.tls }).toString());
        return;
      case 'secure-features': {
        this.secured = true;
        this.options.events.secured();
        this.dialbackOffered = features.getChild('dialback', NS.dialbackFeature) !== undefined;
        this.smOffered = features.getChild('sm', NS.sm) !== undefined;
        const mechanisms = features.getChild('mechanisms', NS.sasl)?.getChildren('mechanism') ?? [];
        if (this.peerVerified && mechanisms.some((m) => m.text() === 'EXTERNAL')) {
          // RFC 6120 §6.4.2: `=` is an empty initial response, the authorization identity is the certificate's.
          this.phase = 'sasl';
          this.write(xml('auth', { xmlns: NS.sasl, mechanism: 'EXTERNAL' }, '=').toString());
          return;
        }
        return this.startDialback();
      }
      case 'sasl-restart':
        this.smOffered = features.getChild('sm', NS.sm) !== undefined;
        return this.becomeReady('sasl-external');
      default:
        return this.fail('policy-violation', 'unexpected stream features', 'not-found');
    }
  }

  private upgrade(): void {
    const { remote, tls } = this.options;
    const raw = this.socket;
    raw.removeListener('data', this.onData);
    // SNI takes a host name, never an address (Node refuses one: ERR_TLS_SNI_FROM_SERVER in old libraries).
    const secure = tlsConnect({
      socket: raw,
      ...(isIP(remote) === 0 ? { servername: remote } : {}),
      cert: tls.cert,
      key: tls.key,
      ...(tls.ca !== undefined ? { ca: tls.ca } : {}),
      minVersion: 'TLSv1.2',
      // Checked below: an unverified peer is still reachable by dialback (XEP-0220 §1.2).
      rejectUnauthorized: false,
    });
    this.socket = secure;
    this.attach(secure);
    this.parser.reset();
    secure.once('secureConnect', () => {
      this.peerVerified = serverCertificateValidFor(secure, remote);
      this.options.logger.debug(
        { remote, protocol: secure.getProtocol(), peerVerified: this.peerVerified },
        's2s outgoing TLS established',
      );
      this.phase = 'secure-features';
      this.sendHeader();
    });
  }

  private onSaslOutcome(element: Element): void {
    if (element.name === 'success') {
      this.phase = 'sasl-restart';
      this.parser.reset();
      this.sendHeader();
      return;
    }
    const condition = element.getChildElements()[0]?.local;
    this.options.logger.info({ remote: this.options.remote, condition }, 's2s SASL EXTERNAL refused');
    this.startDialback();
  }

  private startDialback(): void {
    const { local, remote, dialbackSecret } = this.options;
    if (!this.dialbackOffered || this.streamId === undefined) {
      return this.fail('policy-violation', 'no way to authenticate', 'not-found');
    }
    this.phase = 'dialback';
    const key = dialbackKey(dialbackSecret, remote, local, this.streamId);
    this.write(xml('db:result', { from: local, to: remote }, key).toString());
  }

  private onDialbackResult(verdict: DialbackVerdict | undefined): void {
    if (verdict === 'valid') return this.becomeReady('dialback');
    this.options.logger.info(
      { remote: this.options.remote, verdict: typeof verdict === 'object' ? verdict.error : verdict },
      's2s dialback refused by the peer',
    );
    this.failure = 'not-found';
    this.end();
  }

  private becomeReady(method: 'sasl-external' | 'dialback'): void {
    this.phase = 'ready';
    this.authentication = { method, since: new Date() };
    clearTimeout(this.timer);
    if (this.smOffered) {
      // Stanzas written from here on are counted (XEP-0198 §3); no need to wait for <enabled/>.
      this.write(xml('enable', { xmlns: NS.sm }).toString());
      this.sm = new StreamManagement();
    }
    this.options.logger.info(
      { local: this.options.local, remote: this.options.remote, method },
      's2s outgoing stream authenticated',
    );
    this.options.events.ready();
  }

  // --- stream management (XEP-0198) -------------------------------------------------------------------------

  private onStreamManagement(element: Element): void {
    switch (element.name) {
      case 'enabled':
        return;
      case 'failed':
        // Refused after all: what was written meanwhile counts as handed over, as without stream management.
        this.options.logger.info(
          { remote: this.options.remote },
          's2s stream management refused by the peer',
        );
        this.sm = undefined;
        clearTimeout(this.ackTimer);
        this.options.events.drain();
        return;
      case 'r':
        // Nothing is received on a stream we opened (§13.2): we have handled none.
        this.write(ackElement(0).toString());
        return;
      case 'a': {
        const h = parseH(element.attrs.h);
        if (h === undefined) return this.fail('bad-format', 'h must be an unsigned 32-bit integer');
        if (this.sm === undefined) return;
        const blocked = this.sm.unackedCount >= this.options.limits.maxUnackedStanzas;
        const acknowledged = this.sm.acknowledge(h);
        if (acknowledged === 'too-high') {
          return this.fail(
            'undefined-condition',
            'acknowledged more stanzas than were sent',
            handledCountTooHigh(h, this.sm.sentCount),
          );
        }
        if (this.sm.unackedCount === 0) {
          clearTimeout(this.ackTimer);
          this.ackTimer = undefined;
        }
        if (blocked && acknowledged.length > 0) this.options.events.drain();
        return;
      }
      default:
        return this.fail('unsupported-stanza-type');
    }
  }

  // --- ending --------------------------------------------------------------------------------------------------------

  private fail(
    condition: StreamErrorCondition,
    text?: string,
    failureOrDetail?: OutgoingFailure | Element,
  ): void {
    if (this.closed) return;
    const failure = typeof failureOrDetail === 'string' ? failureOrDetail : undefined;
    if (this.phase !== 'ready') this.failure = failure ?? 'not-found';
    this.options.logger.info({ remote: this.options.remote, condition, text }, 's2s outgoing stream error');
    this.write(
      streamError(
        condition,
        text,
        typeof failureOrDetail === 'object' ? failureOrDetail : undefined,
      ).toString(),
    );
    this.end();
  }

  private end(): void {
    if (this.closed) return;
    this.write(STREAM_CLOSE);
    this.closed = true;
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 5_000).unref();
    this.teardown();
  }

  private teardown(): void {
    this.closed = true;
    if (this.gone) return;
    this.gone = true;
    clearTimeout(this.timer);
    clearTimeout(this.ackTimer);
    this.parser.end();
    // Closed by the peer before it was ready: it is not (properly) there.
    const failure = this.phase === 'ready' ? undefined : (this.failure ?? 'not-found');
    const unacknowledged = (this.sm?.drain() ?? []).map((entry) => entry.stanza);
    this.sm = undefined;
    this.options.events.closed(failure, unacknowledged);
  }
}

/** A stanza built for a client stream may carry `xmlns='jabber:client'`: on ours it inherits `jabber:server`. */
function forServerStream(stanza: Element): string {
  const ns = stanza.attrs.xmlns;
  if (ns === undefined || !STANZA_NAMESPACES.has(ns)) return stanza.toString();
  const attrs = { ...stanza.attrs };
  delete attrs.xmlns;
  return new Element(stanza.name, attrs, stanza.children).toString();
}
