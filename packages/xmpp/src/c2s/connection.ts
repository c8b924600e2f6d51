/**
 * One client connection (RFC 6120): stream header → STARTTLS (required over plain TCP) → SASL → stream restart →
 * resource binding → stanzas handed to the router. The same over TCP and over WebSocket (RFC 7395): the
 * transport only frames and carries. Every failure ends in the stream or stanza error the RFC prescribes, and
 * nothing a client sends can throw out of here (docs/xmpp-engine-notes.md, pitfall 9).
 *
 * With XEP-0198 stream management the connection is also the session the router knows: when its transport is
 * lost it waits (still bound) for the client to resume it on a new connection, which hands its transport over.
 */
import { randomBytes } from 'node:crypto';
import {
  streamError,
  stanzaError,
  type StreamErrorCondition,
  isStreamError,
  streamErrorCondition,
} from '../errors.js';
import {
  canonicalDomain,
  canonicalLocal,
  canonicalResource,
  jidToString,
  parseJid,
  sameBare,
  type Jid,
} from '../jid.js';
import { NS } from '../namespaces.js';
import { decodeSaslData, encodeSaslData, type Mechanism, type SaslSession } from '../sasl/index.js';
import { randomHex } from '../sasl/random.js';
import {
  StreamManagement,
  ackElement,
  failedElement,
  handledCountTooHigh,
  parseBoolean,
  parseH,
  requestElement,
  type Reserved,
  type Unacked,
} from '../stream-management.js';
import { Element, xml } from '../xml/element.js';
import { OutputBarrier } from '../output-barrier.js';
import type { BoundResources } from './resources.js';
import type { C2sRouter, C2sSession } from './session.js';
import type { LoginGuard } from './throttle.js';
import type { C2sTransport, C2sTransportEvents } from './transport.js';

export interface C2sLimits {
  /** Largest stanza accepted (bytes); larger → policy-violation. */
  maxStanzaBytes: number;
  /** Time from connect to a bound resource. */
  authTimeoutMs: number;
  /** Silence after which the server pings the client (XEP-0199); the same again without an answer closes. */
  idleTimeoutMs: number;
  /** Failed SASL attempts before the stream is closed. */
  maxAuthFailures: number;
  /** Keep-alive interval towards the client (NAT traversal): whitespace (RFC 6120 §4.6.1) or a WebSocket ping. */
  keepaliveIntervalMs: number;
  /** Output queued for a reader above four times which it is cut off at once (bytes). */
  maxBufferedBytes: number;
  /**
   * How long a reader may stay behind (output above the transport's high-water mark, no drain since) before it is
   * cut off with a `policy-violation` stream error; checked every half of it.
   */
  slowReaderTimeoutMs: number;
  /** Longest a sender's reading is paused for a recipient that is behind; one behind longer is not waited for. */
  senderPauseMs: number;
  /** XEP-0198: how long a session whose connection was lost waits to be resumed (0: no resumption). */
  resumptionTimeoutMs: number;
  /** XEP-0198: stanzas sent and not acknowledged above which the client is cut off (policy-violation). */
  maxUnackedStanzas: number;
  /** XEP-0198: the server asks for an ack (`<r/>`) after this many stanzas… */
  ackRequestStanzas: number;
  /** …or when output has been unacknowledged for this long. */
  ackRequestMs: number;
}

export const DEFAULT_C2S_LIMITS: C2sLimits = {
  maxStanzaBytes: 256 * 1024,
  authTimeoutMs: 30_000,
  idleTimeoutMs: 300_000,
  maxAuthFailures: 3,
  keepaliveIntervalMs: 60_000,
  maxBufferedBytes: 1024 * 1024,
  slowReaderTimeoutMs: 30_000,
  senderPauseMs: 250,
  resumptionTimeoutMs: 300_000,
  maxUnackedStanzas: 1_000,
  ackRequestStanzas: 10,
  ackRequestMs: 5_000,
};

/** Sessions that can be resumed (XEP-0198 §5), by resumption id; shared by the connections of one server. */
export type ResumableSessions = Map<string, C2sConnection>;

export interface C2sLogger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface C2sConnectionOptions {
  domain: string;
  /** SASL mechanisms in order of preference. */
  mechanisms: readonly Mechanism[];
  /** A TLS-terminating proxy in front of the server encrypts the stream: no STARTTLS is offered here. */
  tlsByProxy?: boolean;
  router: C2sRouter;
  limits: C2sLimits;
  logger: C2sLogger;
  /** Login throttling shared by all connections: asked before an attempt is tried and before it is answered. */
  throttle?: LoginGuard;
  /** Resources bound per account (RFC 6120 §7.6.2.1 resource-constraint beyond the cap). */
  resources?: BoundResources;
  /** Called once when the connection is gone, whatever the reason. The options may be shared by connections. */
  onClose?: (connection: C2sConnection) => void;
  /** Where sessions wait to be resumed; without it XEP-0198 acks are offered but not resumption. */
  resumable?: ResumableSessions;
  /**
   * A resumption id this server does not hold (another server of the domain may have issued it): what is asked
   * there before the answer, which stays `<failed/>` item-not-found.
   */
  resumeElsewhere?: (previd: string, username: string) => Promise<void>;
}

type Phase = 'tls' | 'sasl' | 'bind' | 'ready';

/** A resourcepart of U+0020 only (what every space becomes under RFC 7622 §3.4.2). */
const WHITESPACE_ONLY = /^ +$/;

/** Elements waiting to be handled above which the connection stops reading. */
const MAX_BACKLOG = 64;

export class C2sConnection implements C2sSession {
  id = randomHex(12);
  jid: Jid = { local: undefined, domain: '', resource: undefined };
  remoteAddress: string | undefined;

  private phase: Phase;
  private headerSent = false;
  private closed = false;
  private username: string | undefined;
  private sasl: { mechanism: Mechanism; session: SaslSession } | undefined;
  /** Elements received and not yet handled: they are handled one at a time, in order. */
  private backlog = 0;
  private handling: Promise<void> = Promise.resolve();
  /** Reading is paused by a full backlog, by the router (a recipient's back-pressure), or both. */
  private pausedByBacklog = false;
  private pausedByRouter = false;
  private authFailures = 0;
  private bound = false;
  private pingOutstanding: string | undefined;
  private lastWrite = Date.now();
  /** Until a resource is bound; cleared then, so an idle connection holds no timer of its own. */
  private authTimer: NodeJS.Timeout | undefined;
  private wheel: KeepaliveWheel | undefined;
  /** Since when output has waited above the high-water mark without a drain. */
  private slowSince: number | undefined;
  private pauseTimer: NodeJS.Timeout | undefined;
  /** Allocated on the first hold() or sendConfirmed(): most connections never use them. */
  private barrier: OutputBarrier | undefined;
  private confirming: Set<(ok: boolean) => void> | undefined;
  /** Allocated on the first wait only: most connections never wait. */
  private drainWaiters: (() => void)[] | undefined;
  private reportedGone = false;
  /** What the transport reports goes to `events.c`: this connection, or the session it resumed. */
  private events: InstanceType<typeof C2sConnection.Events>;
  /** The session this connection resumed (XEP-0198 §5), which now owns its transport. */
  private successor: C2sConnection | undefined;
  /** XEP-0198 state once enabled; it outlives a lost transport while the session waits to be resumed. */
  private sm: StreamManagement | undefined;
  /** The resumption id given in `<enabled/>` (the key in `options.resumable`), and how long this session waits. */
  private resumptionId: string | undefined;
  private resumptionWindowMs = 0;
  /** The transport is lost and the session (still bound) waits to be resumed until `waitTimer` fires. */
  private waiting = false;
  private waitTimer: NodeJS.Timeout | undefined;
  /** The stream ends the session (the client closed it, or a stream error of ours): no resumption. */
  private terminating = false;
  private ackTimer: NodeJS.Timeout | undefined;
  /** An ack request is due at the end of this tick (requestAckSoon). */
  private ackSoon = false;
  private overflowing = false;

  constructor(
    private transport: C2sTransport,
    private readonly options: C2sConnectionOptions,
  ) {
    this.remoteAddress = transport.remoteAddress;
    this.phase = transport.secure || options.tlsByProxy ? 'sasl' : 'tls';
    this.events = new C2sConnection.Events(this);
    transport.start(this.events);
    this.authTimer = setTimeout(() => {
      if (!this.bound) this.fail('connection-timeout', 'not authenticated in time');
    }, options.limits.authTimeoutMs);
  }

  /** What the transport reports, as methods of one small object rather than a closure per event. */
  private static readonly Events = class implements C2sTransportEvents {
    /** Undefined once the transport is left behind (lost, or replaced by a resumption). */
    constructor(public c: C2sConnection | undefined) {}
    streamStart(attrs: Record<string, string>, namespaces: { default: string | undefined }): void {
      this.c?.enqueue(() => this.c?.onStreamStart(attrs, namespaces));
    }
    stanza(element: Element): void {
      this.c?.enqueue(() => this.c?.onElement(element));
    }
    streamEnd(): void {
      // Stanzas sent before the close tag are still handled (in order) before the stream ends.
      this.c?.enqueue(() => this.c?.end());
    }
    error(condition: StreamErrorCondition, text: string): void {
      this.c?.fail(condition, text);
    }
    idle(): void {
      this.c?.onIdle();
    }
    drain(): void {
      this.c?.onDrain();
    }
    transportError(error: Error): void {
      this.c?.options.logger.debug({ id: this.c.id, err: error.message }, 'socket error');
    }
    closed(): void {
      this.c?.teardown();
    }
  };

  // --- output --------------------------------------------------------------------------------------------------

  // Writes name the transport they were issued on: one held behind the output barrier when the connection is lost
  // must not reach the connection a resumed session moves to (what it carried is re-sent from XEP-0198's queue).
  private write(text: string): boolean {
    const transport = this.transport;
    return this.output(transport, () => transport.write(text));
  }

  private writeElement(element: Element, written?: (error?: Error | null) => void): boolean {
    const transport = this.transport;
    return this.output(transport, () => transport.write(transport.element(element), written));
  }

  /** Writes an element now, in front of whatever the output barrier holds (a refusal at the barrier's place). */
  private emitElement(element: Element): boolean {
    if (this.closed || this.transport.destroyed) return false;
    const transport = this.transport;
    return this.emit(transport, () => transport.write(transport.element(element)));
  }

  /**
   * Every write goes through here: behind the output barrier while something is held (hold()). Each write names the
   * transport it was issued on, and is judged (and dropped when that one is gone) by it.
   */
  private output(transport: C2sTransport, write: () => boolean): boolean {
    if (this.closed || transport.destroyed) return false;
    if (this.barrier?.holding) {
      this.barrier.run(() => void this.emit(transport, write));
      return true;
    }
    return this.emit(transport, write);
  }

  /** Writes now: slow readers are noticed (and cut off when far behind). */
  private emit(transport: C2sTransport, write: () => boolean): boolean {
    if (transport.destroyed) return false;
    this.lastWrite = Date.now();
    const ok = write();
    const queued = transport.bufferedBytes;
    if (queued > this.options.limits.maxBufferedBytes * 4) {
      // Far behind: drop it now rather than hold its output in memory.
      this.options.logger.warn({ id: this.id, queued }, 'reader too slow: disconnected');
      transport.destroy();
      return false;
    }
    // Only the session's current connection counts as slow (a write left over from a lost one does not).
    if (!ok && transport === this.transport) this.slowSince ??= Date.now();
    return ok;
  }

  private onDrain(): void {
    this.slowSince = undefined;
    const waiters = this.drainWaiters;
    if (!waiters) return;
    this.drainWaiters = undefined;
    for (const resolve of waiters) resolve();
  }

  // --- C2sSession ------------------------------------------------------------------------------------------------

  send(stanza: Element): boolean {
    if (this.sendCounted({ stanza }) || this.closed) return true;
    // Pausing the sender helps a reader only just behind; one behind for longer is left to the slow-reader limits.
    const since = this.slowSince;
    return since === undefined || Date.now() - since >= this.options.limits.senderPauseMs;
  }

  /**
   * Resolves true once the stanza is safe with the client: acknowledged (XEP-0198) when stream management is on,
   * else once the transport has handed it to the network; false when the session ends first (not resumed). Such
   * stanzas are not given to `unacknowledged()`: their owner keeps them.
   */
  sendConfirmed(stanza: Element): Promise<boolean> {
    if (this.sm !== undefined) return new Promise((confirm) => this.sendCounted({ stanza, confirm }));
    if (this.closed || this.transport.destroyed) return Promise.resolve(false);
    return new Promise((resolve) => {
      const confirm = (ok: boolean): void => {
        if (this.confirming?.delete(confirm)) resolve(ok);
      };
      (this.confirming ??= new Set()).add(confirm);
      this.writeElement(stanza, (error) => confirm(!error));
    });
  }

  hold(durable: Promise<unknown>): void {
    if (this.closed) return;
    // With XEP-0198, the element that may come (a refusal) is counted at its place on the wire, ahead of what is held.
    const place = this.sm?.reserve();
    this.barrier ??= new OutputBarrier(
      (placed) => this.placeAtBarrier(placed as { place: Reserved | undefined; value: unknown }),
      (error) => this.internalError(error),
    );
    const placed = (value: unknown) => ({ place, value });
    this.barrier.hold(durable.then(placed, () => placed(undefined)));
  }

  /**
   * A held promise has settled: the element it gave, if any, is written at the barrier's place — the refusal of a held
   * message, or the bind result ahead of what was routed to the resource while the router registered it.
   */
  private placeAtBarrier({ place, value }: { place: Reserved | undefined; value: unknown }): void {
    const element = value instanceof Element ? value : undefined;
    if (place !== undefined && this.sm !== undefined) {
      if (element === undefined) return this.sm.release(place);
      if (this.sm.fill(place, { stanza: element })) {
        this.emitElement(element);
        return;
      }
    }
    if (element === undefined) return;
    // Without stream management it goes now; with it but no place kept (the stream moved, or stream management
    // came later) it is counted and written behind what is still held, where its count matches the wire.
    if (this.sm === undefined) this.emitElement(element);
    else this.sendCounted({ stanza: element });
  }

  /**
   * With stream management, every stanza is kept until the client acknowledges it, and queued (not written) while
   * the session waits to be resumed; too many unacknowledged ones end the session.
   */
  private sendCounted(entry: Unacked): boolean {
    const sm = this.sm;
    if (sm === undefined) return this.writeElement(entry.stanza);
    const request = sm.sent(entry, this.options.limits.ackRequestStanzas);
    if (sm.unackedCount > this.options.limits.maxUnackedStanzas) {
      this.overflow();
      return true;
    }
    if (this.waiting) return true;
    const written = this.writeElement(entry.stanza);
    if (request) this.requestAck();
    else if (entry.confirm) this.requestAckSoon();
    else this.armAckRequest();
    return written;
  }

  writable(): Promise<void> {
    if (this.closed || this.transport.bufferedBytes === 0 || !this.transport.needsDrain)
      return Promise.resolve();
    return new Promise((resolve) => (this.drainWaiters ??= []).push(resolve));
  }

  pause(): void {
    if (this.pausedByRouter || this.closed) return;
    this.pausedByRouter = true;
    this.transport.pause();
    // Whoever it waits for, a sender reads again after senderPauseMs.
    this.pauseTimer = setTimeout(() => this.resume(), this.options.limits.senderPauseMs);
  }

  resume(): void {
    clearTimeout(this.pauseTimer);
    this.pauseTimer = undefined;
    this.pausedByRouter = false;
    if (!this.closed && !this.pausedByBacklog) this.transport.resume();
  }

  close(condition?: StreamErrorCondition, text?: string): void {
    if (this.waiting) return this.expire();
    if (condition) this.fail(condition, text);
    else this.end();
  }

  // --- stream --------------------------------------------------------------------------------------------------

  /**
   * Elements are handled strictly in the order they arrived — a stanza that needs the database must not be
   * overtaken by the next one — and reading stops while too many wait, so a fast sender cannot queue without bound.
   */
  private enqueue(handle: () => void | Promise<void>): void {
    if (++this.backlog > MAX_BACKLOG && !this.pausedByBacklog) {
      this.pausedByBacklog = true;
      this.transport.pause();
    }
    this.handling = this.handling.then(async () => {
      try {
        if (!this.closed) await handle();
      } catch (error) {
        this.internalError(error);
      }
      if (--this.backlog <= MAX_BACKLOG / 2 && this.pausedByBacklog) {
        this.pausedByBacklog = false;
        if (!this.closed && !this.pausedByRouter) this.transport.resume();
      }
    });
  }

  private internalError(error: unknown): void {
    this.options.logger.error(
      { id: this.id, err: error instanceof Error ? error.message : String(error) },
      'c2s handler failed',
    );
    // After a resumption the transport, and what is still queued here, belong to the resumed session.
    (this.successor ?? this).fail('internal-server-error');
  }

  private sendHeader(): void {
    if (this.headerSent) return;
    this.headerSent = true;
    this.write(this.transport.header(this.id, this.options.domain));
  }

  private onStreamStart(attrs: Record<string, string>, namespaces: { default: string | undefined }): void {
    // Header and features (or header and stream error) leave in one write: one TLS record, one system call.
    this.transport.cork?.();
    try {
      this.sendHeader();
      if (namespaces.default !== NS.client) return this.fail('invalid-namespace');
      const to = attrs.to === undefined ? undefined : canonicalDomain(attrs.to);
      if (to !== this.options.domain) return this.fail('host-unknown');
      if (attrs.version === undefined || !/^1\.\d+$/.test(attrs.version))
        return this.fail('unsupported-version');
      this.writeElement(this.features());
    } finally {
      this.transport.uncork?.();
    }
  }

  private features(): Element {
    const features = xml('stream:features');
    if (this.phase === 'tls') {
      features.append(xml('starttls', { xmlns: NS.tls }, xml('required')));
    } else if (this.phase === 'sasl') {
      features.append(
        xml(
          'mechanisms',
          { xmlns: NS.sasl },
          ...this.options.mechanisms.map((m) => xml('mechanism', {}, m.name)),
        ),
      );
    } else {
      features.append(
        xml('bind', { xmlns: NS.bind }),
        xml('session', { xmlns: NS.session }, xml('optional')),
        xml('sm', { xmlns: NS.sm }),
      );
    }
    return features;
  }

  /** A fresh stream on the same connection (RFC 6120 §4.3.3, RFC 7395 §3.7): new id, header expected again. */
  private restart(): void {
    this.id = randomHex(12);
    this.headerSent = false;
    this.transport.restart();
  }

  private onElement(element: Element): void | Promise<void> {
    if (isStreamError(element)) return this.onPeerStreamError(element);
    switch (this.phase) {
      case 'tls':
        return this.negotiateTls(element);
      case 'sasl':
        return this.negotiateSasl(element);
      case 'bind':
        return this.negotiateBind(element);
      case 'ready':
        if (element.xmlns === NS.sm) return this.onStreamManagement(element);
        return this.counted(this.onStanza(element));
    }
  }

  // --- STARTTLS (RFC 6120 §5) ----------------------------------------------------------------------------------

  private negotiateTls(element: Element): void {
    if (element.name === 'starttls' && element.xmlns === NS.tls) {
      this.writeElement(xml('proceed', { xmlns: NS.tls }));
      this.upgrade();
      return;
    }
    if (element.name === 'auth' && element.xmlns === NS.sasl) {
      this.writeElement(xml('failure', { xmlns: NS.sasl }, xml('encryption-required')));
      return;
    }
    this.fail('policy-violation', 'STARTTLS is required');
  }

  private upgrade(): void {
    // Only a transport that is not secure yet starts in the 'tls' phase, and that one can start TLS.
    this.transport.startTls!((protocol) =>
      this.options.logger.debug({ id: this.id, protocol }, 'TLS established'),
    );
    this.phase = 'sasl';
    this.restart();
  }

  // --- SASL (RFC 6120 §6) --------------------------------------------------------------------------------------

  private saslFailure(condition: string): void {
    this.sasl = undefined;
    this.writeElement(xml('failure', { xmlns: NS.sasl }, xml(condition)));
    if (condition === 'not-authorized' && ++this.authFailures >= this.options.limits.maxAuthFailures) {
      this.fail('policy-violation', 'too many failed authentication attempts');
    }
  }

  private async negotiateSasl(element: Element): Promise<void> {
    // XEP-0198 §3, §5: neither before authentication.
    if (element.xmlns === NS.sm && (element.name === 'enable' || element.name === 'resume')) {
      this.writeElement(failedElement('unexpected-request'));
      return;
    }
    if (element.xmlns !== NS.sasl) return this.fail('not-authorized');
    if (element.name === 'abort') return this.saslFailure('aborted');
    let response: Buffer | undefined;
    if (element.name === 'auth') {
      if ((this.options.throttle?.addressWait(this.remoteAddress) ?? 0) > 0) {
        return this.saslFailure('temporary-auth-failure');
      }
      const mechanism = this.options.mechanisms.find((m) => m.name === element.attrs.mechanism);
      if (!mechanism) return this.saslFailure('invalid-mechanism');
      this.sasl = { mechanism, session: mechanism.start() };
      const text = element.text();
      if (text.length > 0) {
        const decoded = decodeSaslData(text);
        if (decoded === 'incorrect-encoding') return this.saslFailure('incorrect-encoding');
        response = decoded;
      }
    } else if (element.name === 'response' && this.sasl) {
      const decoded = decodeSaslData(element.text());
      if (decoded === 'incorrect-encoding') return this.saslFailure('incorrect-encoding');
      response = decoded;
    } else {
      return this.saslFailure('malformed-request');
    }
    const step = await this.sasl.session.step(response);
    if (this.closed) return;
    if (step.kind === 'challenge') {
      this.writeElement(xml('challenge', { xmlns: NS.sasl }, encodeSaslData(step.data)));
    } else if (step.kind === 'failure') {
      this.options.logger.info(
        { id: this.id, mechanism: this.sasl?.mechanism.name, condition: step.condition },
        'authentication failed',
      );
      // Keyed by the canonical local part, so `Alice` and `alice` count as one account.
      const account = step.username === undefined ? undefined : canonicalLocal(step.username);
      if (step.condition === 'not-authorized' && account !== undefined) {
        if (!(await this.settleAttempt(account, false))) return;
      }
      this.saslFailure(step.condition);
    } else {
      this.username = canonicalLocal(step.username);
      if (this.username === undefined) return this.saslFailure('not-authorized');
      if (!(await this.settleAttempt(this.username, true))) return;
      const mechanism = this.sasl?.mechanism.name;
      this.sasl = undefined;
      this.writeElement(
        xml('success', { xmlns: NS.sasl }, step.data ? encodeSaslData(step.data) : undefined),
      );
      this.phase = 'bind';
      this.restart();
      this.options.logger.info({ id: this.id, username: step.username, mechanism }, 'authenticated');
    }
  }

  /**
   * The guard's word before an outcome is told: false when the attempt was refused (answered here with
   * temporary-auth-failure, the same whether the password was right) or the connection closed meanwhile.
   */
  private async settleAttempt(account: string, right: boolean): Promise<boolean> {
    const guard = this.options.throttle;
    if (!guard) return true;
    const attempt = await guard.admit(this.remoteAddress, account);
    if (this.closed) return false;
    if (attempt === 'refused') {
      this.saslFailure('temporary-auth-failure');
      return false;
    }
    await attempt.settle(right);
    return !this.closed;
  }

  // --- resource binding (RFC 6120 §7) ---------------------------------------------------------------------------

  private async negotiateBind(element: Element): Promise<void> {
    if (element.xmlns === NS.sm && element.name === 'resume') return this.resumeSession(element);
    // XEP-0198 §3: stream management is enabled after binding (or comes back with a resumed session).
    if (element.xmlns === NS.sm && element.name === 'enable') {
      this.writeElement(failedElement('unexpected-request'));
      return;
    }
    if (element.name !== 'iq' || element.xmlns !== NS.client)
      return this.fail('not-authorized', 'bind a resource first');
    const bind = element.getChild('bind', NS.bind);
    if (element.attrs.type !== 'set' || !bind || element.attrs.id === undefined) {
      this.writeElement(stanzaError(element, 'cancel', 'not-allowed', 'bind a resource first'));
      return;
    }
    const requested = bind.getChildText('resource');
    const resource = requested ? canonicalResource(requested) : randomHex(8);
    // RFC 6120 §7.7.2.1: not a resourcepart (RFC 7622 §3.4) → bad-request; a valid one our policy refuses →
    // not-allowed (§7.6.2.2); beyond the account's cap → resource-constraint (§7.6.2.1).
    if (resource === undefined) {
      this.writeElement(
        stanzaError(element, 'modify', 'bad-request', 'not a valid resourcepart (RFC 7622 §3.4)'),
      );
      return;
    }
    if (WHITESPACE_ONLY.test(resource)) {
      this.writeElement(
        stanzaError(element, 'cancel', 'not-allowed', 'a resource of spaces only is not allowed'),
      );
      return;
    }
    const resources = this.options.resources;
    if (resources && !resources.claim(this, this.username!, resource)) {
      this.writeElement(
        stanzaError(
          element,
          'wait',
          'resource-constraint',
          `too many resources for this account (at most ${resources.maxPerAccount})`,
        ),
      );
      return;
    }
    this.jid = { local: this.username, domain: this.options.domain, resource };
    this.bound = true;
    clearTimeout(this.authTimer);
    this.authTimer = undefined;
    this.phase = 'ready';
    const result = xml(
      'iq',
      { type: 'result', id: element.attrs.id },
      xml('bind', { xmlns: NS.bind }, xml('jid', {}, jidToString(this.jid))),
    );
    // The router may route stanzas to the resource while it registers it (a message arriving meanwhile): they
    // wait behind the bind result, written at the barrier's place once the router is done (RFC 6120 §7.6.1: the
    // resource is bound when the client has the result, not before).
    let registered!: (ok: boolean) => void;
    this.hold(
      new Promise<boolean>((resolve) => (registered = resolve)).then((ok) =>
        ok && !this.closed ? result : undefined,
      ),
    );
    let ok = false;
    try {
      await this.options.router.bound(this);
      ok = true;
    } finally {
      registered(ok);
    }
    if (this.closed) return;
    this.startKeepalive();
  }

  /** RFC 6120 §4.9.1.1: the client's stream error closes its stream; ours is closed in turn, with no error of ours. */
  private onPeerStreamError(element: Element): void {
    this.options.logger.info(
      { id: this.id, condition: streamErrorCondition(element) },
      'stream error from the client',
    );
    this.end();
  }

  // --- stanzas (RFC 6120 §8) -------------------------------------------------------------------------------------

  private onStanza(element: Element): void | Promise<void> {
    if (element.xmlns !== NS.client || !['message', 'presence', 'iq'].includes(element.name)) {
      return this.fail('unsupported-stanza-type');
    }
    const { from, to } = element.attrs;
    if (from !== undefined) {
      const claimed = parseJid(from);
      if (
        !claimed ||
        !sameBare(claimed, this.jid) ||
        (claimed.resource !== undefined && claimed.resource !== this.jid.resource)
      ) {
        return this.fail('invalid-from');
      }
    }
    element.attrs.from = jidToString(this.jid);
    if (to !== undefined) {
      const target = parseJid(to);
      if (!target) {
        this.replyError(element, 'modify', 'jid-malformed');
        return;
      }
      element.attrs.to = jidToString(target);
    }
    if (element.name === 'iq') {
      const type = element.attrs.type;
      const payloads = element.getChildElements().filter((c) => c.name !== 'error');
      const valid =
        element.attrs.id !== undefined &&
        (((type === 'get' || type === 'set') && payloads.length === 1) ||
          type === 'result' ||
          type === 'error');
      if (!valid) {
        this.replyError(element, 'modify', 'bad-request');
        return;
      }
      // Answer to our own XEP-0199 ping.
      if (type !== 'get' && type !== 'set' && element.attrs.id === this.pingOutstanding) {
        this.pingOutstanding = undefined;
        return;
      }
      // Session establishment (RFC 3921 legacy) is optional and a no-op.
      if (
        type === 'set' &&
        element.getChild('session', NS.session) &&
        (to === undefined || to === this.options.domain)
      ) {
        this.send(xml('iq', { type: 'result', id: element.attrs.id, to: element.attrs.from }));
        return;
      }
    }
    return this.options.router.route(this, element);
  }

  private replyError(
    element: Element,
    type: 'modify' | 'cancel',
    condition: 'jid-malformed' | 'bad-request',
  ): void {
    if (element.attrs.type === 'error') return; // never answer an error with an error
    const reply = stanzaError(element, type, condition);
    reply.attrs.from = this.options.domain;
    this.send(reply);
  }

  // --- stream management (XEP-0198 v1.6) ---------------------------------------------------------------------

  /** A stanza counts as handled (`h`) once its routing has settled, so an `<a/>` never covers one still in flight. */
  private counted(result: void | Promise<void>): void | Promise<void> {
    const sm = this.sm;
    if (sm === undefined) return result;
    if (result === undefined) return sm.handledOne();
    return result.then(() => sm.handledOne());
  }

  private onStreamManagement(element: Element): void {
    switch (element.name) {
      case 'enable':
        return this.enable(element);
      case 'resume':
        // §5: only instead of binding, on a new stream.
        this.writeElement(failedElement('unexpected-request'));
        return;
      case 'r':
        if (this.sm === undefined)
          return this.fail('unsupported-stanza-type', 'stream management is not enabled');
        this.writeElement(ackElement(this.sm.handledCount));
        return;
      case 'a':
        return this.onAck(element);
      default:
        return this.fail('unsupported-stanza-type');
    }
  }

  /** §3: acks from now on; with `resume='true'` an unguessable id, good only for this account, and the window. */
  private enable(element: Element): void {
    if (this.sm !== undefined) {
      this.writeElement(failedElement('unexpected-request'));
      return;
    }
    const resume = parseBoolean(element.attrs.resume);
    const max = element.attrs.max;
    if (resume === undefined || (max !== undefined && !/^[1-9][0-9]{0,8}$/.test(max))) {
      this.writeElement(failedElement('bad-request'));
      return;
    }
    this.sm = new StreamManagement();
    const windowMs = Math.min(
      this.options.limits.resumptionTimeoutMs,
      max === undefined ? Infinity : Number(max) * 1000,
    );
    if (!resume || this.options.resumable === undefined || windowMs <= 0) {
      this.writeElement(xml('enabled', { xmlns: NS.sm }));
      return;
    }
    this.resumptionId = randomBytes(24).toString('base64url');
    this.resumptionWindowMs = windowMs;
    this.options.resumable.set(this.resumptionId, this);
    this.writeElement(
      xml('enabled', {
        xmlns: NS.sm,
        id: this.resumptionId,
        resume: 'true',
        max: String(Math.ceil(windowMs / 1000)),
      }),
    );
  }

  private onAck(element: Element): void {
    if (this.sm === undefined)
      return this.fail('unsupported-stanza-type', 'stream management is not enabled');
    const h = parseH(element.attrs.h);
    if (h === undefined) return this.fail('bad-format', 'h must be an unsigned 32-bit integer');
    const acknowledged = this.sm.acknowledge(h);
    // §4: an h above what was sent (or going backwards) cannot be trusted.
    if (acknowledged === 'too-high') {
      return this.fail(
        'undefined-condition',
        'acknowledged more stanzas than were sent',
        handledCountTooHigh(h, this.sm.sentCount),
      );
    }
    for (const entry of acknowledged) entry.confirm?.(true);
    if (this.sm.unackedCount === 0) {
      clearTimeout(this.ackTimer);
      this.ackTimer = undefined;
    }
  }

  private requestAck(): void {
    this.sm?.requested();
    this.writeElement(requestElement());
    clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    this.armAckRequest();
  }

  /**
   * A stanza whose owner waits for its ack (sendConfirmed: an offline message's row) is asked about at the end of
   * the tick that sent it, not after ackRequestMs: a backlog sent in windows would otherwise wait that long for
   * each window.
   */
  private requestAckSoon(): void {
    if (this.ackSoon) return;
    this.ackSoon = true;
    setImmediate(() => {
      this.ackSoon = false;
      if (!this.closed && !this.waiting && (this.sm?.unackedCount ?? 0) > 0) this.requestAck();
    });
  }

  /** One timer while output is unacknowledged: a client that does not ack on its own is asked. */
  private armAckRequest(): void {
    if (this.ackTimer !== undefined) return;
    this.ackTimer = setTimeout(() => {
      this.ackTimer = undefined;
      if (!this.closed && (this.sm?.unackedCount ?? 0) > 0) this.requestAck();
    }, this.options.limits.ackRequestMs);
    this.ackTimer.unref();
  }

  /** Too many unacknowledged stanzas: the session ends (after the router's current call, not inside it). */
  private overflow(): void {
    if (this.overflowing) return;
    this.overflowing = true;
    setImmediate(() => {
      this.options.logger.warn(
        { id: this.id, jid: jidToString(this.jid) },
        'too many unacknowledged stanzas',
      );
      if (this.waiting) this.expire();
      else this.fail('policy-violation', 'too many unacknowledged stanzas');
    });
  }

  /**
   * §5: a new stream of the same account takes over a session that waits (or whose old connection is still open):
   * what the client acknowledged in `h` is done, the rest is sent again after `<resumed/>`.
   */
  private async resumeSession(element: Element): Promise<void> {
    const h = parseH(element.attrs.h);
    const previd = element.attrs.previd;
    if (h === undefined || previd === undefined || previd === '') {
      this.writeElement(failedElement('bad-request'));
      return;
    }
    const session = this.options.resumable?.get(previd);
    // Unknown, expired and another account's ids get the same answer.
    if (session === undefined || session.username !== this.username) {
      if (session === undefined && this.username !== undefined && this.options.resumeElsewhere)
        await this.options
          .resumeElsewhere(previd, this.username)
          .catch((error: unknown) =>
            this.options.logger.warn(
              { id: this.id, err: error instanceof Error ? error.message : String(error) },
              'resumption elsewhere not asked',
            ),
          );
      if (this.closed) return;
      this.writeElement(failedElement('item-not-found'));
      return;
    }
    const outcome = await session.takeOver(this, h);
    if (this.closed) return;
    if (outcome === 'gone') {
      this.writeElement(failedElement('item-not-found'));
      return;
    }
    if (outcome !== 'resumed') {
      this.fail(
        'undefined-condition',
        'acknowledged more stanzas than were sent',
        handledCountTooHigh(h, outcome.sent),
      );
    }
  }

  /**
   * A resumption of this session by `username` failed on another server (which cannot take it over): the session
   * ends now, as when its window ends — its old connection closed if still open — and what its client did not
   * acknowledge is handed to the router at once. False when it is not that account's or not bound.
   */
  abandon(username: string): boolean {
    if (username !== this.username || !this.bound || this.resumptionId === undefined) return false;
    if (!this.waiting) this.leaveTransport(true);
    this.expire();
    return true;
  }

  /** Adopts `next`'s transport for this session; `next` is left without one. */
  private async takeOver(next: C2sConnection, h: number): Promise<'resumed' | 'gone' | { sent: number }> {
    if (!this.bound || this.sm === undefined) return 'gone';
    // The old connection, if still open, is closed, and nothing more is read from it…
    if (!this.waiting) this.leaveTransport(true);
    // …and the element being handled when it was lost settles (and is counted in h) before h is reported. Elements
    // read but not yet started are dropped with the connection, uncounted: the client sends them again. A handler
    // that hangs (a database that does not answer) is waited for half the time a login may take (the new stream's
    // own timer ends it at the full time): the resumption then fails with <failed/>, and the client logs in afresh.
    let timer: NodeJS.Timeout | undefined;
    const settled = await Promise.race([
      this.handling.then(() => true),
      new Promise<false>(
        (resolve) => (timer = setTimeout(() => resolve(false), this.options.limits.authTimeoutMs / 2)),
      ),
    ]);
    clearTimeout(timer);
    if (!settled) return 'gone';
    const sm = this.sm;
    if (!this.waiting || sm === undefined || next.closed) return 'gone';
    const acknowledged = sm.acknowledge(h);
    if (acknowledged === 'too-high') return { sent: sm.sentCount };
    for (const entry of acknowledged) entry.confirm?.(true);
    clearTimeout(this.waitTimer);
    this.waitTimer = undefined;
    this.waiting = false;
    this.closed = false;
    this.overflowing = false;
    this.transport = next.transport;
    this.remoteAddress = next.remoteAddress;
    this.events = next.events;
    this.events.c = this;
    // Elements read after <resume/> are handled after it, in order, by this session.
    this.handling = next.handling;
    this.backlog = 0;
    this.pausedByBacklog = false;
    this.headerSent = true;
    this.pingOutstanding = undefined;
    this.slowSince = undefined;
    if (this.pausedByRouter) this.transport.pause();
    next.handOver(this);
    this.options.logger.info({ id: this.id, jid: jidToString(this.jid), h }, 'session resumed');
    this.writeElement(
      xml('resumed', { xmlns: NS.sm, previd: this.resumptionId, h: String(sm.handledCount) }),
    );
    // A refusal still to come for a held message is sent after what is re-sent, counted there.
    sm.releaseReserved();
    const pending = sm.pending();
    for (const entry of pending) this.writeElement(entry.stanza);
    if (pending.length > 0) this.requestAck();
    this.startKeepalive();
    return 'resumed';
  }

  /** This connection's transport now carries `session`; this connection is done without ending anything. */
  private handOver(session: C2sConnection): void {
    this.successor = session;
    clearTimeout(this.authTimer);
    this.authTimer = undefined;
    if (!this.reportedGone) {
      this.reportedGone = true;
      this.options.onClose?.(this);
    }
  }

  /** The transport is lost (or replaced): the session waits for resumption until the window ends. */
  private leaveTransport(replaced: boolean): void {
    this.events.c = undefined;
    this.closed = true;
    this.wheel?.delete(this);
    this.wheel = undefined;
    clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    this.onDrain();
    if (replaced && !this.transport.destroyed) {
      const old = this.transport;
      old.write(old.element(streamError('conflict', 'the session was resumed on another connection')));
      old.write(old.close);
      old.end();
      setTimeout(() => old.destroy(), 5_000).unref();
    }
    if (this.waiting) return;
    this.waiting = true;
    this.options.logger.info(
      { id: this.id, jid: jidToString(this.jid), windowMs: this.resumptionWindowMs },
      'connection lost: session kept for resumption',
    );
    this.waitTimer = setTimeout(() => this.expire(), this.resumptionWindowMs);
    this.waitTimer.unref();
  }

  /** Not resumed in time (or closed meanwhile): the session ends. */
  private expire(): void {
    if (!this.waiting) return;
    this.waiting = false;
    this.options.logger.info({ id: this.id, jid: jidToString(this.jid) }, 'session not resumed: ended');
    this.endSession();
  }

  // --- liveness --------------------------------------------------------------------------------------------------

  private startKeepalive(): void {
    const interval = this.options.limits.keepaliveIntervalMs;
    this.wheel = KeepaliveWheel.for(Math.min(interval, this.options.limits.slowReaderTimeoutMs / 2));
    this.wheel.add(this);
  }

  /** One turn of the shared keep-alive wheel: cut off a reader slow for too long, or send a keep-alive. */
  keepaliveTick(now: number): void {
    if (this.closed) return;
    if (this.slowSince !== undefined && now - this.slowSince > this.options.limits.slowReaderTimeoutMs) {
      // What is queued still goes out before the error, to a reader that reads again (end() waits 5 s at most).
      this.options.logger.warn(
        { id: this.id, queued: this.transport.bufferedBytes },
        'reader too slow for too long: disconnected',
      );
      this.fail('policy-violation', 'reader too slow');
      return;
    }
    if (now - this.lastWrite >= this.options.limits.keepaliveIntervalMs)
      this.output(this.transport, () => this.transport.keepalive());
  }

  private onIdle(): void {
    if (!this.bound || this.pingOutstanding !== undefined) {
      this.fail('connection-timeout');
      return;
    }
    this.pingOutstanding = `ping-${randomHex(6)}`;
    this.sendCounted({
      stanza: xml(
        'iq',
        { type: 'get', id: this.pingOutstanding, from: this.options.domain, to: jidToString(this.jid) },
        xml('ping', { xmlns: NS.ping }),
      ),
      internal: true,
    });
  }

  // --- ending --------------------------------------------------------------------------------------------------------

  /**
   * A stream error: header first if none was sent, the error, the close tag, then the connection ends. It ends the
   * session too, except a timeout: a client whose network went silent may come back and resume (XEP-0198 §5).
   */
  private fail(condition: StreamErrorCondition, text?: string, detail?: Element): void {
    if (this.closed) return;
    this.options.logger.info({ id: this.id, condition, text }, 'stream error');
    this.sendHeader();
    this.writeElement(streamError(condition, text, detail));
    this.end(condition !== 'connection-timeout');
  }

  /** Our close tag; `terminate`: the session ends with the stream (a clean close does, XEP-0198 §5). */
  private end(terminate = true): void {
    if (this.closed) return;
    this.terminating = terminate;
    this.sendHeader();
    this.write(this.transport.close);
    this.closed = true;
    // This connection's, not one a resumed session may have moved to meanwhile.
    const transport = this.transport;
    // After what the output barrier still holds.
    if (this.barrier) this.barrier.run(() => transport.end());
    else transport.end();
    // A peer that never closes its side is not waited for.
    const timer = setTimeout(() => transport.destroy(), 5_000);
    timer.unref();
    this.teardown();
  }

  private teardown(): void {
    if (this.waiting) return;
    this.closed = true;
    clearTimeout(this.authTimer);
    this.authTimer = undefined;
    if (this.bound && this.resumptionId !== undefined && !this.terminating) return this.leaveTransport(false);
    this.events.c = undefined;
    this.wheel?.delete(this);
    this.wheel = undefined;
    clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    clearTimeout(this.pauseTimer);
    this.onDrain();
    this.endSession();
  }

  /**
   * The session is over: what the client did not acknowledge goes to the router (`unacknowledged`, before
   * `unbound`), stanzas sent with confirmation are reported unconfirmed to their owner.
   */
  private endSession(): void {
    clearTimeout(this.waitTimer);
    this.waitTimer = undefined;
    if (this.resumptionId !== undefined) {
      this.options.resumable?.delete(this.resumptionId);
      this.resumptionId = undefined;
    }
    const sm = this.sm;
    this.sm = undefined;
    // Not confirmed by now: never (the owner keeps what it holds for the stanza).
    for (const confirm of this.confirming ?? []) confirm(false);
    if (this.bound) {
      this.bound = false;
      this.options.resources?.release(this, this.jid.local!);
      if (sm !== undefined) this.reportUnacknowledged(sm.drain());
      this.options.router.unbound(this);
    }
    if (!this.reportedGone) {
      this.reportedGone = true;
      this.options.onClose?.(this);
    }
  }

  private reportUnacknowledged(entries: Unacked[]): void {
    const stanzas: Element[] = [];
    const sentAt: Date[] = [];
    for (const entry of entries) {
      if (entry.confirm) entry.confirm(false);
      else if (!entry.internal) {
        stanzas.push(entry.stanza);
        sentAt.push(new Date(entry.at ?? Date.now()));
      }
    }
    const logFailure = (error: unknown) =>
      this.options.logger.error(
        { id: this.id, err: error instanceof Error ? error.message : String(error) },
        'unacknowledged stanzas not handed over',
      );
    try {
      void Promise.resolve(this.options.router.unacknowledged?.(this, stanzas, sentAt)).catch(logFailure);
    } catch (error) {
      logFailure(error);
    }
  }
}

/**
 * One interval per period for every bound connection, instead of a `setInterval` (a Timeout and a closure) per
 * connection: each tick visits the connections of that period. Stopped when its last connection leaves.
 */
class KeepaliveWheel {
  private static readonly wheels = new Map<number, KeepaliveWheel>();
  private readonly connections = new Set<C2sConnection>();
  private timer: NodeJS.Timeout | undefined;

  private constructor(private readonly periodMs: number) {}

  static for(periodMs: number): KeepaliveWheel {
    let wheel = KeepaliveWheel.wheels.get(periodMs);
    if (!wheel) {
      wheel = new KeepaliveWheel(periodMs);
      KeepaliveWheel.wheels.set(periodMs, wheel);
    }
    return wheel;
  }

  add(connection: C2sConnection): void {
    this.connections.add(connection);
    if (!this.timer) {
      this.timer = setInterval(() => this.tick(), this.periodMs);
      this.timer.unref();
    }
  }

  delete(connection: C2sConnection): void {
    this.connections.delete(connection);
    if (this.connections.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
      KeepaliveWheel.wheels.delete(this.periodMs);
    }
  }

  private tick(): void {
    const now = Date.now();
    // A connection may close (and leave the set) during another's tick: iterating a Set tolerates that.
    for (const connection of this.connections) {
      try {
        connection.keepaliveTick(now);
      } catch {
        // A write to a socket that just failed; its close event tears the connection down.
      }
    }
  }
}
