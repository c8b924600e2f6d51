/**
 * One client connection (RFC 6120): stream header → STARTTLS (required over plain TCP) → SASL → stream restart →
 * resource binding → stanzas handed to the router. The same over TCP and over WebSocket (RFC 7395): the
 * transport only frames and carries. Every failure ends in the stream or stanza error the RFC prescribes, and
 * nothing a client sends can throw out of here (xmpp-notes pitfall 9).
 */
import { streamError, stanzaError, type StreamErrorCondition } from '../errors.js';
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
};

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
}

type Phase = 'tls' | 'sasl' | 'bind' | 'ready';

/** A resourcepart of U+0020 only (what every space becomes under RFC 7622 §3.4.2). */
const WHITESPACE_ONLY = /^ +$/;

/** Elements waiting to be handled above which the connection stops reading. */
const MAX_BACKLOG = 64;

export class C2sConnection implements C2sSession {
  id = randomHex(12);
  jid: Jid = { local: undefined, domain: '', resource: undefined };
  readonly remoteAddress: string | undefined;

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

  constructor(
    private readonly transport: C2sTransport,
    private readonly options: C2sConnectionOptions,
  ) {
    this.remoteAddress = transport.remoteAddress;
    this.phase = transport.secure || options.tlsByProxy ? 'sasl' : 'tls';
    transport.start(new C2sConnection.Events(this));
    this.authTimer = setTimeout(() => {
      if (!this.bound) this.fail('connection-timeout', 'not authenticated in time');
    }, options.limits.authTimeoutMs);
  }

  /** What the transport reports, as methods of one small object rather than a closure per event. */
  private static readonly Events = class implements C2sTransportEvents {
    constructor(private readonly c: C2sConnection) {}
    streamStart(attrs: Record<string, string>, namespaces: { default: string | undefined }): void {
      this.c.enqueue(() => this.c.onStreamStart(attrs, namespaces));
    }
    stanza(element: Element): void {
      this.c.enqueue(() => this.c.onElement(element));
    }
    streamEnd(): void {
      // Stanzas sent before the close tag are still handled (in order) before the stream ends.
      this.c.enqueue(() => this.c.end());
    }
    error(condition: StreamErrorCondition, text: string): void {
      this.c.fail(condition, text);
    }
    idle(): void {
      this.c.onIdle();
    }
    drain(): void {
      this.c.onDrain();
    }
    transportError(error: Error): void {
      this.c.options.logger.debug({ id: this.c.id, err: error.message }, 'socket error');
    }
    closed(): void {
      this.c.teardown();
    }
  };

  // --- output --------------------------------------------------------------------------------------------------

  private write(text: string): boolean {
    return this.output(() => this.transport.write(text));
  }

  private writeElement(element: Element, written?: (error?: Error | null) => void): boolean {
    return this.output(() => this.transport.write(this.transport.element(element), written));
  }

  /** Every write goes through here: behind the output barrier while something is held (hold()). */
  private output(write: () => boolean): boolean {
    if (this.closed || this.transport.destroyed) return false;
    if (this.barrier?.holding) {
      this.barrier.run(() => void this.emit(write));
      return true;
    }
    return this.emit(write);
  }

  /** Writes now: slow readers are noticed (and cut off when far behind). */
  private emit(write: () => boolean): boolean {
    if (this.transport.destroyed) return false;
    this.lastWrite = Date.now();
    const ok = write();
    const queued = this.transport.bufferedBytes;
    if (queued > this.options.limits.maxBufferedBytes * 4) {
      // Far behind: drop it now rather than hold its output in memory.
      this.options.logger.warn({ id: this.id, queued }, 'reader too slow: disconnected');
      this.transport.destroy();
      return false;
    }
    if (!ok) this.slowSince ??= Date.now();
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
    if (this.writeElement(stanza) || this.closed) return true;
    // Pausing the sender helps a reader only just behind; one behind for longer is left to the slow-reader limits.
    const since = this.slowSince;
    return since === undefined || Date.now() - since >= this.options.limits.senderPauseMs;
  }

  sendConfirmed(stanza: Element): Promise<boolean> {
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
    this.barrier ??= new OutputBarrier((refusal) => {
      if (refusal instanceof Element) this.emit(() => this.transport.write(this.transport.element(refusal)));
    });
    this.barrier.hold(durable);
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
    this.fail('internal-server-error');
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
    switch (this.phase) {
      case 'tls':
        return this.negotiateTls(element);
      case 'sasl':
        return this.negotiateSasl(element);
      case 'bind':
        return this.negotiateBind(element);
      case 'ready':
        return this.onStanza(element);
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
      this.sasl = undefined;
      this.writeElement(
        xml('success', { xmlns: NS.sasl }, step.data ? encodeSaslData(step.data) : undefined),
      );
      this.phase = 'bind';
      this.restart();
      this.options.logger.info({ id: this.id, username: step.username }, 'authenticated');
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
    await this.options.router.bound(this);
    if (this.closed) return;
    this.writeElement(
      xml(
        'iq',
        { type: 'result', id: element.attrs.id },
        xml('bind', { xmlns: NS.bind }, xml('jid', {}, jidToString(this.jid))),
      ),
    );
    this.startKeepalive();
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
      this.output(() => this.transport.keepalive());
  }

  private onIdle(): void {
    if (!this.bound || this.pingOutstanding !== undefined) {
      this.fail('connection-timeout');
      return;
    }
    this.pingOutstanding = `ping-${randomHex(6)}`;
    this.send(
      xml(
        'iq',
        { type: 'get', id: this.pingOutstanding, from: this.options.domain, to: jidToString(this.jid) },
        xml('ping', { xmlns: NS.ping }),
      ),
    );
  }

  // --- ending --------------------------------------------------------------------------------------------------------

  /** A stream error: header first if none was sent, the error, the close tag, then the connection ends. */
  private fail(condition: StreamErrorCondition, text?: string): void {
    if (this.closed) return;
    this.options.logger.info({ id: this.id, condition, text }, 'stream error');
    this.sendHeader();
    this.writeElement(streamError(condition, text));
    this.end();
  }

  private end(): void {
    if (this.closed) return;
    this.sendHeader();
    this.write(this.transport.close);
    this.closed = true;
    // After what the output barrier still holds.
    if (this.barrier) this.barrier.run(() => this.transport.end());
    else this.transport.end();
    // A peer that never closes its side is not waited for.
    const timer = setTimeout(() => this.transport.destroy(), 5_000);
    timer.unref();
    this.teardown();
  }

  private teardown(): void {
    this.closed = true;
    clearTimeout(this.authTimer);
    this.authTimer = undefined;
    this.wheel?.delete(this);
    this.wheel = undefined;
    clearTimeout(this.pauseTimer);
    this.onDrain();
    // Not confirmed by now: never (the owner keeps what it holds for the stanza).
    for (const confirm of this.confirming ?? []) confirm(false);
    if (this.bound) {
      this.bound = false;
      this.options.resources?.release(this, this.jid.local!);
      this.options.router.unbound(this);
    }
    if (!this.reportedGone) {
      this.reportedGone = true;
      this.options.onClose?.(this);
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
