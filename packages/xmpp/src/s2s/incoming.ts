/**
 * One incoming server-to-server stream (RFC 6120 §13): stream header in `jabber:server` → STARTTLS (required,
 * §5) → authentication of the peer's domain by SASL EXTERNAL (§6, XEP-0178, offered only for a certificate that
 * chains to our CAs and names the stream's `from`) or by dialback (XEP-0220: each `db:result` is checked with the
 * authoritative server over an outgoing stream) → stanzas from authenticated domains to ours go to the router,
 * one at a time and in order. This side also answers `db:verify` for keys we issued (we are the authoritative
 * server then). XEP-0198 stream management is offered: an authenticated peer may enable it and have its stanzas
 * acknowledged, each once its routing has settled (no resumption between servers). Whatever a peer sends ends at
 * worst in a stream error: nothing throws out of here.
 */
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { streamError, type StreamErrorCondition, isStreamError, streamErrorCondition } from '../errors.js';
import { canonicalDomain, jidToString, parseJid } from '../jid.js';
import { NS } from '../namespaces.js';
import { decodeSaslData } from '../sasl/index.js';
import {
  StreamManagement,
  ackElement,
  failedElement,
  handledCountTooHigh,
  parseH,
} from '../stream-management.js';
import { xml, type Element } from '../xml/element.js';
import { StreamParser } from '../xml/stream-parser.js';
import { OutputBarrier } from '../output-barrier.js';
import { dialbackAnswer, dialbackKey, keysEqual, type DialbackVerdict } from './dialback.js';
import type { S2sLink } from './link.js';
import type { IncomingContext, S2sIncomingStream } from './options.js';

const STREAM_CLOSE = '</stream:stream>';
/** Elements waiting to be handled above which the stream stops reading (as in c2s). */
const MAX_BACKLOG = 64;
const STANZAS = new Set(['message', 'presence', 'iq']);

type Phase = 'tls' | 'auth';

export class IncomingStream implements S2sIncomingStream {
  id = randomBytes(12).toString('hex');
  readonly remoteAddress: string | undefined;

  private socket: Socket;
  private readonly parser: StreamParser;
  private phase: Phase = 'tls';
  private headerSent = false;
  private closed = false;
  /** Ended by a stream error of ours: what the peer sent after it is not routed. */
  private errored = false;
  private gone = false;
  /** The stream header's `to` (one of our domains) and `from` (the peer's claim), canonical. */
  private local: string | undefined;
  private peer: string | undefined;
  private tls: TLSSocket | undefined;
  private saslDone = false;
  /** Authenticated pairs: our domain → the peer domains it accepts stanzas from on this stream. */
  private readonly authenticated = new Map<string, Set<string>>();
  /** The same pairs with how and when (for operators: the admin API's s2s links). */
  readonly links: S2sLink[] = [];
  private pendingDialbacks = 0;
  private backlog = 0;
  private handling: Promise<void> = Promise.resolve();
  private paused = false;
  private readonly authTimer: NodeJS.Timeout;
  /** Allocated on the first hold(). */
  private barrier: OutputBarrier | undefined;
  /** XEP-0198 once the peer enabled it: the count of its stanzas we handled. */
  private sm: StreamManagement | undefined;

  constructor(
    socket: Socket,
    private readonly ctx: IncomingContext,
    private readonly onClose: (stream: IncomingStream) => void,
  ) {
    this.socket = socket;
    this.remoteAddress = socket.remoteAddress;
    this.parser = new StreamParser(
      {
        streamStart: (attrs, namespaces) => this.enqueue(() => this.onStreamStart(attrs, namespaces.default)),
        stanza: (element) => this.enqueue(() => this.onElement(element), true),
        streamEnd: () => this.enqueue(() => this.end()),
        error: (condition, text) => this.fail(condition, text),
      },
      { maxStanzaBytes: ctx.limits.maxStanzaBytes },
    );
    this.attach(socket);
    this.authTimer = setTimeout(() => {
      if (this.authenticated.size === 0) this.fail('connection-timeout', 'not authenticated in time');
    }, ctx.limits.negotiationTimeoutMs);
  }

  /** Ends the stream, with a stream error when a condition is given. */
  close(condition?: StreamErrorCondition): void {
    if (condition) this.fail(condition);
    else this.end();
  }

  // --- the socket ---------------------------------------------------------------------------------------------

  private attach(socket: Socket): void {
    socket.setNoDelay(true);
    socket.setTimeout(this.ctx.limits.idleTimeoutMs);
    socket.on('data', this.onData);
    // An idle server-to-server stream is simply closed (RFC 6120 §4.4); the peer reconnects when it needs to.
    socket.on('timeout', () => this.end());
    socket.on('error', (error) =>
      this.ctx.logger.debug({ id: this.id, err: error.message }, 's2s socket error'),
    );
    socket.on('close', () => this.teardown());
  }

  private readonly onData = (chunk: Buffer): void => {
    this.parser.write(chunk);
  };

  private write(text: string): void {
    if (this.closed || this.socket.destroyed) return;
    if (!this.barrier) this.socket.write(text);
    else this.barrier.run(() => void (this.socket.destroyed || this.socket.write(text)));
  }

  /** What this stream writes after hold() waits until `durable` (and what was held before) has settled. */
  hold(durable: Promise<unknown>): void {
    if (this.closed) return;
    this.barrier ??= new OutputBarrier(undefined, (error) =>
      this.ctx.logger.error(
        { id: this.id, err: error instanceof Error ? error.message : String(error) },
        'held s2s output not written',
      ),
    );
    this.barrier.hold(durable);
  }

  /**
   * In arrival order, one at a time; reading stops while too many wait (back-pressure on the peer). Stanzas already
   * read on an authenticated stream are still routed when the connection drops meanwhile: the peer sent them and
   * will not send them again (no message lost silently). After a stream error nothing more is routed.
   */
  private enqueue(handle: () => void | Promise<void>, stanza = false): void {
    if (++this.backlog > MAX_BACKLOG && !this.paused) {
      this.paused = true;
      this.socket.pause();
    }
    this.handling = this.handling.then(async () => {
      try {
        if (!this.closed || (stanza && this.authenticated.size > 0 && !this.errored)) await handle();
      } catch (error) {
        this.internalError(error);
      }
      if (--this.backlog <= MAX_BACKLOG / 2 && this.paused) {
        this.paused = false;
        if (!this.closed) this.socket.resume();
      }
    });
  }

  private internalError(error: unknown): void {
    this.ctx.logger.error(
      { id: this.id, err: error instanceof Error ? error.message : String(error) },
      's2s handler failed',
    );
    this.fail('internal-server-error');
  }

  // --- stream header and features (RFC 6120 §4.7, §4.3.2) --------------------------------------------------------

  private sendHeader(): void {
    if (this.headerSent) return;
    this.headerSent = true;
    const from = this.local ?? [...this.ctx.domains][0] ?? '';
    const to = this.peer === undefined ? '' : ` to='${this.peer}'`;
    this.write(
      `<?xml version='1.0'?><stream:stream xmlns='${NS.server}' xmlns:stream='${NS.stream}' ` +
        `xmlns:db='${NS.dialback}' id='${this.id}' from='${from}'${to} version='1.0' xml:lang='en'>`,
    );
  }

  private onStreamStart(attrs: Record<string, string>, defaultNs: string | undefined): void {
    const to = attrs.to === undefined ? undefined : canonicalDomain(attrs.to);
    if (to !== undefined && this.ctx.domains.has(to)) this.local = to;
    const from = attrs.from === undefined ? undefined : canonicalDomain(attrs.from);
    if (from !== undefined) this.peer = from;
    this.sendHeader();
    if (defaultNs !== NS.server) return this.fail('invalid-namespace');
    if (to === undefined || !this.ctx.domains.has(to)) return this.fail('host-unknown');
    if (attrs.from !== undefined && from === undefined) return this.fail('invalid-from');
    if (attrs.version === undefined || !/^1\.\d+$/.test(attrs.version))
      return this.fail('unsupported-version');
    this.write(this.features().toString());
  }

  private features(): Element {
    const features = xml('stream:features');
    if (this.phase === 'tls') {
      features.append(xml('starttls', { xmlns: NS.tls }, xml('required')));
      return features;
    }
    // XEP-0198: offered alongside authentication; enabled once the peer is authenticated.
    const sm = xml('sm', { xmlns: NS.sm });
    if (this.saslDone) return features.append(sm);
    if (this.externalPossible()) {
      features.append(xml('mechanisms', { xmlns: NS.sasl }, xml('mechanism', {}, 'EXTERNAL')));
    }
    features.append(xml('dialback', { xmlns: NS.dialbackFeature }, xml('errors')), sm);
    return features;
  }

  /** SASL EXTERNAL only for a certificate of the domain the stream claims to come from (XEP-0178 §3). */
  private externalPossible(): boolean {
    return (
      this.tls !== undefined &&
      this.peer !== undefined &&
      this.ctx.trustedCas.clientCertificateValidFor(this.tls, this.peer)
    );
  }

  /** A fresh stream on the same connection (RFC 6120 §4.3.3): new id, header expected again. */
  private restart(): void {
    this.id = randomBytes(12).toString('hex');
    this.headerSent = false;
    this.parser.reset();
  }

  private onElement(element: Element): void | Promise<void> {
    if (isStreamError(element)) return this.onPeerStreamError(element);
    if (this.phase === 'tls') return this.negotiateTls(element);
    if (element.xmlns === NS.sasl) return this.negotiateSasl(element);
    if (element.xmlns === NS.dialback) return this.onDialback(element);
    if (element.xmlns === NS.sm) return this.onStreamManagement(element);
    const routed = this.onStanza(element);
    // h counts a stanza once its routing has settled, so an <a/> never covers one still in flight.
    const sm = this.sm;
    if (sm === undefined) return routed;
    if (routed === undefined) return sm.handledOne();
    return routed.then(() => sm.handledOne());
  }

  // --- stream management (XEP-0198) -------------------------------------------------------------------------

  private onStreamManagement(element: Element): void {
    switch (element.name) {
      case 'enable':
        if (this.authenticated.size === 0 || this.sm !== undefined) {
          this.write(failedElement('unexpected-request').toString());
          return;
        }
        this.sm = new StreamManagement();
        // Without resume='true': no resumption between servers, whatever the peer asked for.
        this.write(xml('enabled', { xmlns: NS.sm }).toString());
        return;
      case 'resume':
        this.write(failedElement('item-not-found').toString());
        return;
      case 'r':
        if (this.sm === undefined)
          return this.fail('unsupported-stanza-type', 'stream management is not enabled');
        this.write(ackElement(this.sm.handledCount).toString());
        return;
      case 'a': {
        if (this.sm === undefined)
          return this.fail('unsupported-stanza-type', 'stream management is not enabled');
        const h = parseH(element.attrs.h);
        if (h === undefined) return this.fail('bad-format', 'h must be an unsigned 32-bit integer');
        // Streams are one-way (RFC 6120 §13.2): we sent no stanzas here to acknowledge.
        if (h !== 0) {
          return this.fail(
            'undefined-condition',
            'acknowledged more stanzas than were sent',
            handledCountTooHigh(h, 0),
          );
        }
        return;
      }
      default:
        return this.fail('unsupported-stanza-type');
    }
  }

  // --- STARTTLS (RFC 6120 §5) ----------------------------------------------------------------------------------

  private negotiateTls(element: Element): void {
    if (element.name !== 'starttls' || element.xmlns !== NS.tls) {
      return this.fail('policy-violation', 'STARTTLS is required');
    }
    this.write(xml('proceed', { xmlns: NS.tls }).toString());
    const raw = this.socket;
    raw.removeListener('data', this.onData);
    raw.setTimeout(0);
    // Wrapped in the same tick, before any more bytes are read from the raw socket (docs/xmpp-engine-notes.md, pitfall 2). The
    // peer's certificate is asked for but not required: without a valid one, dialback is the way in.
    const secure = new TLSSocket(raw, {
      isServer: true,
      secureContext: this.ctx.secureContext,
      requestCert: true,
      rejectUnauthorized: false,
    });
    this.socket = secure;
    this.tls = secure;
    this.phase = 'auth';
    this.restart();
    this.attach(secure);
  }

  // --- SASL EXTERNAL (RFC 6120 §6, XEP-0178) -------------------------------------------------------------------

  private saslFailure(condition: string): void {
    this.write(xml('failure', { xmlns: NS.sasl }, xml(condition)).toString());
  }

  private negotiateSasl(element: Element): void {
    if (element.name === 'abort') return this.saslFailure('aborted');
    if (element.name !== 'auth' || this.saslDone) return this.saslFailure('malformed-request');
    if (element.attrs.mechanism !== 'EXTERNAL' || !this.externalPossible()) {
      return this.saslFailure('invalid-mechanism');
    }
    // The authorization identity is empty (`=`: the certificate's) or the stream's `from` (XEP-0178 §3 step 7).
    const text = element.text();
    const authzid = text === '' ? Buffer.alloc(0) : decodeSaslData(text);
    if (authzid === 'incorrect-encoding') return this.saslFailure('incorrect-encoding');
    const identity = authzid.toString('utf8');
    if (identity !== '' && canonicalDomain(identity) !== this.peer)
      return this.saslFailure('invalid-authzid');
    this.saslDone = true;
    this.write(xml('success', { xmlns: NS.sasl }).toString());
    this.authenticate(this.local!, this.peer!, 'sasl-external');
    this.restart();
  }

  private authenticate(local: string, remote: string, method: 'sasl-external' | 'dialback'): void {
    let remotes = this.authenticated.get(local);
    if (remotes === undefined) {
      remotes = new Set();
      this.authenticated.set(local, remotes);
    }
    if (!remotes.has(remote))
      this.links.push({ local, remote, direction: 'incoming', method, since: new Date() });
    remotes.add(remote);
    clearTimeout(this.authTimer);
    this.ctx.logger.info({ id: this.id, local, remote, method }, 's2s incoming stream authenticated');
  }

  // --- dialback (XEP-0220) ----------------------------------------------------------------------------------------

  private onDialback(element: Element): void {
    if (element.attrs.type !== undefined) return; // answers travel on our outgoing streams, not here
    if (element.local === 'result') return this.receiveResult(element);
    if (element.local === 'verify') return this.answerVerify(element);
    this.fail('unsupported-stanza-type');
  }

  /**
   * XEP-0220 §2.1–2.3: the peer claims `from` with a key; the authoritative server of `from` says whether the key
   * is valid. Checked without holding up the stream: both servers may be verifying each other at once, and a
   * `db:verify` for our own key may arrive on this very stream meanwhile.
   */
  private receiveResult(element: Element): void {
    const to = element.attrs.to === undefined ? undefined : canonicalDomain(element.attrs.to);
    const from = element.attrs.from === undefined ? undefined : canonicalDomain(element.attrs.from);
    if (from === undefined) return this.fail('invalid-from');
    const answer = (verdict: DialbackVerdict) =>
      this.write(
        dialbackAnswer('result', { from: to ?? element.attrs.to ?? '', to: from }, verdict).toString(),
      );
    if (to === undefined || !this.ctx.domains.has(to)) return answer({ error: 'item-not-found' });
    if (this.pendingDialbacks >= this.ctx.limits.maxPendingDialbacks) {
      return this.fail('policy-violation', 'too many dialback requests at once');
    }
    this.pendingDialbacks++;
    const streamId = this.id;
    void this.ctx
      .verifyKey(to, from, streamId, element.text())
      .catch((): DialbackVerdict => ({ error: 'internal-server-error' }))
      .then((verdict) => {
        this.pendingDialbacks--;
        if (this.closed) return;
        this.ctx.logger.info(
          {
            id: this.id,
            local: to,
            remote: from,
            verdict: typeof verdict === 'string' ? verdict : verdict.error,
          },
          's2s dialback result checked',
        );
        if (verdict === 'valid') this.authenticate(to, from, 'dialback');
        answer(verdict);
      })
      .catch((error: unknown) => this.internalError(error));
  }

  /** XEP-0220 §2.3: we are the authoritative server; the key is ours if it is what we would have computed. */
  private answerVerify(element: Element): void {
    const { from, to, id } = element.attrs;
    const local = to === undefined ? undefined : canonicalDomain(to);
    const receiving = from === undefined ? undefined : canonicalDomain(from);
    if (receiving === undefined || id === undefined) return this.fail('improper-addressing');
    let verdict: DialbackVerdict;
    if (local === undefined || !this.ctx.domains.has(local)) {
      verdict = { error: 'item-not-found' };
    } else {
      const expected = dialbackKey(this.ctx.dialbackSecret, receiving, local, id);
      verdict = keysEqual(element.text(), expected) ? 'valid' : 'invalid';
    }
    this.ctx.logger.info(
      {
        id: this.id,
        local: to,
        remote: receiving,
        verdict: typeof verdict === 'string' ? verdict : verdict.error,
      },
      's2s dialback key verified for the peer',
    );
    this.write(dialbackAnswer('verify', { from: local ?? to ?? '', to: receiving, id }, verdict).toString());
  }

  // --- stanzas (RFC 6120 §8, §13.2) -----------------------------------------------------------------------------

  private onStanza(element: Element): void | Promise<void> {
    if (element.xmlns !== NS.server || !STANZAS.has(element.name))
      return this.fail('unsupported-stanza-type');
    if (this.authenticated.size === 0) return this.fail('not-authorized');
    const { from, to } = element.attrs;
    if (from === undefined || to === undefined) return this.fail('improper-addressing');
    const sender = parseJid(from);
    const target = parseJid(to);
    if (!sender || !target) return this.fail('improper-addressing');
    if (!this.ctx.domains.has(target.domain)) return this.fail('host-unknown');
    if (!this.authenticated.get(target.domain)?.has(sender.domain)) return this.fail('invalid-from');
    element.attrs.from = jidToString(sender);
    element.attrs.to = jidToString(target);
    return this.ctx.router.incoming(element, this);
  }

  // --- ending --------------------------------------------------------------------------------------------------------

  /**
   * RFC 6120 §4.9.1.1: the peer's stream error (Prosody's `system-shutdown` as it stops) closes its stream; ours is
   * closed in turn, with no error of ours.
   */
  private onPeerStreamError(element: Element): void {
    this.ctx.logger.info(
      { id: this.id, remote: this.peer, condition: streamErrorCondition(element) },
      's2s incoming stream: stream error from the peer',
    );
    this.end();
  }

  private fail(condition: StreamErrorCondition, text?: string, detail?: Element): void {
    if (this.closed) return;
    this.errored = true;
    this.ctx.logger.info({ id: this.id, remote: this.peer, condition, text }, 's2s incoming stream error');
    this.sendHeader();
    this.finalAck();
    this.write(streamError(condition, text, detail).toString());
    this.end();
  }

  /** XEP-0198: a last ack before we close (also on shutdown), so the peer does not send again what we handled. */
  private finalAck(): void {
    if (this.sm !== undefined) this.write(ackElement(this.sm.handledCount).toString());
  }

  private end(): void {
    if (this.closed) return;
    this.sendHeader();
    if (!this.errored) this.finalAck();
    this.write(STREAM_CLOSE);
    this.closed = true;
    if (this.barrier) this.barrier.run(() => this.socket.end());
    else this.socket.end();
    // A peer that never closes its side is not waited for.
    setTimeout(() => this.socket.destroy(), 5_000).unref();
    this.teardown();
  }

  private teardown(): void {
    this.closed = true;
    if (this.gone) return;
    this.gone = true;
    clearTimeout(this.authTimer);
    this.parser.end();
    this.onClose(this);
  }
}
