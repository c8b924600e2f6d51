/**
 * One client connection (RFC 6120): stream header → STARTTLS (required) → SASL → stream restart → resource
 * binding → stanzas handed to the router. Every failure ends in the stream or stanza error the RFC prescribes,
 * and nothing a client sends can throw out of here (xmpp-notes pitfall 9).
 */
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { TLSSocket, type SecureContext } from 'node:tls';
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
import type { Element } from '../xml/element.js';
import { xml } from '../xml/element.js';
import { StreamParser } from '../xml/stream-parser.js';
import type { C2sRouter, C2sSession } from './session.js';
import type { LoginThrottle } from './throttle.js';

export interface C2sLimits {
  /** Largest stanza accepted (bytes); larger → policy-violation. */
  maxStanzaBytes: number;
  /** Time from connect to a bound resource. */
  authTimeoutMs: number;
  /** Silence after which the server pings the client (XEP-0199); the same again without an answer closes. */
  idleTimeoutMs: number;
  /** Failed SASL attempts before the stream is closed. */
  maxAuthFailures: number;
  /** Whitespace keep-alive interval towards the client (NAT traversal, RFC 6120 §4.6.1). */
  keepaliveIntervalMs: number;
  /** Output queued for a slow reader above which it counts as slow (bytes). */
  maxBufferedBytes: number;
  /** How long a reader may stay slow before it is cut off. */
  slowReaderTimeoutMs: number;
}

export const DEFAULT_C2S_LIMITS: C2sLimits = {
  maxStanzaBytes: 256 * 1024,
  authTimeoutMs: 30_000,
  idleTimeoutMs: 300_000,
  maxAuthFailures: 3,
  keepaliveIntervalMs: 60_000,
  maxBufferedBytes: 1024 * 1024,
  slowReaderTimeoutMs: 30_000,
};

export interface C2sLogger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface C2sConnectionOptions {
  domain: string;
  secureContext: SecureContext;
  /** SASL mechanisms in order of preference. */
  mechanisms: readonly Mechanism[];
  router: C2sRouter;
  limits: C2sLimits;
  logger: C2sLogger;
  /** The socket is already TLS (direct TLS, XEP-0368). */
  directTls?: boolean;
  /** Failed-login throttling shared by all connections (the account side is checked by the credential lookup). */
  throttle?: LoginThrottle;
  /** Called when the connection is gone, whatever the reason. */
  onClose?: (connection: C2sConnection) => void;
}

type Phase = 'tls' | 'sasl' | 'bind' | 'ready';

const STREAM_CLOSE = '</stream:stream>';
/** Elements waiting to be handled above which the connection stops reading. */
const MAX_BACKLOG = 64;

export class C2sConnection implements C2sSession {
  id = randomBytes(12).toString('hex');
  jid: Jid = { local: undefined, domain: '', resource: undefined };
  readonly remoteAddress: string | undefined;

  private socket: Socket;
  private readonly parser: StreamParser;
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
  private readonly timers: NodeJS.Timeout[] = [];
  private slowSince: number | undefined;
  private drainWaiters: (() => void)[] = [];

  constructor(
    socket: Socket,
    private readonly options: C2sConnectionOptions,
  ) {
    this.socket = socket;
    this.remoteAddress = socket.remoteAddress;
    this.phase = options.directTls ? 'sasl' : 'tls';
    this.parser = new StreamParser(
      {
        streamStart: (attrs, namespaces) => this.enqueue(() => this.onStreamStart(attrs, namespaces)),
        stanza: (element) => this.enqueue(() => this.onElement(element)),
        // Stanzas sent before the close tag are still handled (in order) before the stream ends.
        streamEnd: () => this.enqueue(() => this.end()),
        error: (condition, text) => this.fail(condition, text),
      },
      { maxStanzaBytes: options.limits.maxStanzaBytes },
    );
    this.attach(socket);
    const authTimer = setTimeout(() => {
      if (!this.bound) this.fail('connection-timeout', 'not authenticated in time');
    }, options.limits.authTimeoutMs);
    this.timers.push(authTimer);
  }

  // --- the socket ---------------------------------------------------------------------------------------------

  private attach(socket: Socket): void {
    socket.setNoDelay(true);
    socket.setTimeout(this.options.limits.idleTimeoutMs);
    socket.on('data', this.onData);
    socket.on('timeout', () => this.onIdle());
    socket.on('drain', () => this.onDrain());
    socket.on('error', (error) =>
      this.options.logger.debug({ id: this.id, err: error.message }, 'socket error'),
    );
    socket.on('close', () => this.teardown());
  }

  private readonly onData = (chunk: Buffer): void => {
    this.parser.write(chunk);
  };

  private write(text: string): boolean {
    if (this.closed || this.socket.destroyed) return false;
    this.lastWrite = Date.now();
    const ok = this.socket.write(text);
    const queued = this.socket.writableLength;
    if (queued > this.options.limits.maxBufferedBytes * 4) {
      // Far behind: drop it now rather than hold its output in memory.
      this.options.logger.warn({ id: this.id, queued }, 'reader too slow: disconnected');
      this.socket.destroy();
      return false;
    }
    if (queued > this.options.limits.maxBufferedBytes && this.slowSince === undefined)
      this.slowSince = Date.now();
    return ok;
  }

  private onDrain(): void {
    this.slowSince = undefined;
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const resolve of waiters) resolve();
  }

  // --- C2sSession ------------------------------------------------------------------------------------------------

  send(stanza: Element): boolean {
    return this.write(stanza.toString());
  }

  writable(): Promise<void> {
    if (this.closed || this.socket.writableLength === 0 || !this.socket.writableNeedDrain)
      return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  pause(): void {
    this.pausedByRouter = true;
    this.socket.pause();
  }

  resume(): void {
    this.pausedByRouter = false;
    if (!this.closed && !this.pausedByBacklog) this.socket.resume();
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
      this.socket.pause();
    }
    this.handling = this.handling.then(async () => {
      try {
        if (!this.closed) await handle();
      } catch (error) {
        this.internalError(error);
      }
      if (--this.backlog <= MAX_BACKLOG / 2 && this.pausedByBacklog) {
        this.pausedByBacklog = false;
        if (!this.closed && !this.pausedByRouter) this.socket.resume();
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
    this.write(
      `<?xml version='1.0'?><stream:stream xmlns='${NS.client}' xmlns:stream='${NS.stream}' ` +
        `id='${this.id}' from='${this.options.domain}' version='1.0' xml:lang='en'>`,
    );
  }

  private onStreamStart(attrs: Record<string, string>, namespaces: { default: string | undefined }): void {
    this.sendHeader();
    if (namespaces.default !== NS.client) return this.fail('invalid-namespace');
    const to = attrs.to === undefined ? undefined : canonicalDomain(attrs.to);
    if (to !== this.options.domain) return this.fail('host-unknown');
    if (attrs.version === undefined || !/^1\.\d+$/.test(attrs.version))
      return this.fail('unsupported-version');
    this.write(this.features().toString());
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

  /** A fresh stream on the same connection (RFC 6120 §4.3.3): new id, header expected again. */
  private restart(): void {
    this.id = randomBytes(12).toString('hex');
    this.headerSent = false;
    this.parser.reset();
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
      this.write(xml('proceed', { xmlns: NS.tls }).toString());
      this.upgrade();
      return;
    }
    if (element.name === 'auth' && element.xmlns === NS.sasl) {
      this.write(xml('failure', { xmlns: NS.sasl }, xml('encryption-required')).toString());
      return;
    }
    this.fail('policy-violation', 'STARTTLS is required');
  }

  private upgrade(): void {
    const raw = this.socket;
    raw.removeListener('data', this.onData);
    raw.setTimeout(0);
    // Wrapped in the same tick, before any more bytes are read from the raw socket (xmpp-notes pitfall 2).
    const secure = new TLSSocket(raw, { isServer: true, secureContext: this.options.secureContext });
    this.socket = secure;
    this.phase = 'sasl';
    this.restart();
    this.attach(secure);
    secure.on('secure', () =>
      this.options.logger.debug({ id: this.id, protocol: secure.getProtocol() }, 'TLS established'),
    );
  }

  // --- SASL (RFC 6120 §6) --------------------------------------------------------------------------------------

  private saslFailure(condition: string): void {
    this.sasl = undefined;
    this.write(xml('failure', { xmlns: NS.sasl }, xml(condition)).toString());
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
      this.write(xml('challenge', { xmlns: NS.sasl }, encodeSaslData(step.data)).toString());
    } else if (step.kind === 'failure') {
      this.options.logger.info(
        { id: this.id, mechanism: this.sasl?.mechanism.name, condition: step.condition },
        'authentication failed',
      );
      // Keyed by the canonical local part, so `Alice` and `alice` count as one account.
      if (step.condition === 'not-authorized') {
        const account = step.username === undefined ? undefined : canonicalLocal(step.username);
        this.options.throttle?.failed(this.remoteAddress, account);
      }
      this.saslFailure(step.condition);
    } else {
      this.username = canonicalLocal(step.username);
      if (this.username === undefined) return this.saslFailure('not-authorized');
      this.options.throttle?.succeeded(this.username);
      this.sasl = undefined;
      this.write(
        xml('success', { xmlns: NS.sasl }, step.data ? encodeSaslData(step.data) : undefined).toString(),
      );
      this.phase = 'bind';
      this.restart();
      this.options.logger.info({ id: this.id, username: step.username }, 'authenticated');
    }
  }

  // --- resource binding (RFC 6120 §7) ---------------------------------------------------------------------------

  private async negotiateBind(element: Element): Promise<void> {
    if (element.name !== 'iq' || element.xmlns !== NS.client)
      return this.fail('not-authorized', 'bind a resource first');
    const bind = element.getChild('bind', NS.bind);
    if (element.attrs.type !== 'set' || !bind || element.attrs.id === undefined) {
      this.write(stanzaError(element, 'cancel', 'not-allowed', 'bind a resource first').toString());
      return;
    }
    const requested = bind.getChildText('resource');
    const resource = requested ? canonicalResource(requested) : randomBytes(8).toString('hex');
    if (resource === undefined) {
      this.write(stanzaError(element, 'modify', 'bad-request', 'invalid resource').toString());
      return;
    }
    this.jid = { local: this.username, domain: this.options.domain, resource };
    this.bound = true;
    this.phase = 'ready';
    await this.options.router.bound(this);
    if (this.closed) return;
    this.write(
      xml(
        'iq',
        { type: 'result', id: element.attrs.id },
        xml('bind', { xmlns: NS.bind }, xml('jid', {}, jidToString(this.jid))),
      ).toString(),
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
    const timer = setInterval(
      () => {
        if (
          this.slowSince !== undefined &&
          Date.now() - this.slowSince > this.options.limits.slowReaderTimeoutMs
        ) {
          this.options.logger.warn({ id: this.id }, 'reader too slow for too long: disconnected');
          this.socket.destroy();
          return;
        }
        if (Date.now() - this.lastWrite >= interval) this.write(' ');
      },
      Math.min(interval, this.options.limits.slowReaderTimeoutMs),
    );
    timer.unref();
    this.timers.push(timer);
  }

  private onIdle(): void {
    if (!this.bound || this.pingOutstanding !== undefined) {
      this.fail('connection-timeout');
      return;
    }
    this.pingOutstanding = `ping-${randomBytes(6).toString('hex')}`;
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
    this.write(streamError(condition, text).toString());
    this.end();
  }

  private end(): void {
    if (this.closed) return;
    this.sendHeader();
    this.write(STREAM_CLOSE);
    this.closed = true;
    this.socket.end();
    // A peer that never closes its side is not waited for.
    const timer = setTimeout(() => this.socket.destroy(), 5_000);
    timer.unref();
    this.teardown();
  }

  private teardown(): void {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.length = 0;
    this.onDrain();
    if (this.bound) {
      this.bound = false;
      this.options.router.unbound(this);
    }
    const onClose = this.options.onClose;
    if (onClose) {
      this.options.onClose = undefined;
      onClose(this);
    }
  }
}
