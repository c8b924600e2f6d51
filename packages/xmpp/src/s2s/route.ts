/**
 * Everything from one of our domains to one remote domain: at most one outgoing stream, reused; stanzas queued
 * (bounded) while it is being set up and bounced when they cannot be delivered in time; reconnection with
 * exponential back-off; the stream closed after a quiet while; dialback verifications (XEP-0220 §2.2) for the
 * remote domain's keys sent over the same stream. A route left with nothing to do retires (the manager forgets it),
 * so the routes held are those in use, not every domain ever named. With XEP-0198 on the stream, stanzas the peer had
 * not acknowledged when it died go back to the head of the queue and out on the next stream (at least once: the peer
 * may have had some of them; XEP-0198 has no resumption between servers).
 */
import { connect as netConnect, type Socket } from 'node:net';
import type { Element } from '../xml/element.js';
import type { DialbackVerdict } from './dialback.js';
import type { S2sLink } from './link.js';
import type { BounceCondition, OutgoingTls, S2sLimits, S2sLogger, S2sRouter } from './options.js';
import { OutgoingStream, type OutgoingFailure } from './outgoing.js';
import type { S2sCandidate, S2sResolver } from './resolver.js';

export interface RouteContext {
  resolver: S2sResolver;
  tls: OutgoingTls;
  dialbackSecret: string;
  router: S2sRouter;
  logger: S2sLogger;
  limits: S2sLimits;
  /** The route has nothing left to do (no stream, nothing queued, no verification, no retry due): forget it. */
  retire(route: OutgoingRoute): void;
}

interface Queued {
  stanza: Element;
  deadline: number;
}

interface Verification {
  key: string;
  sent: boolean;
  finish(verdict: DialbackVerdict): void;
}

const conditionOf = (failure: OutgoingFailure): BounceCondition =>
  failure === 'timeout' ? 'remote-server-timeout' : 'remote-server-not-found';

export class OutgoingRoute {
  private stream: OutgoingStream | undefined;
  private connecting = false;
  private ready = false;
  private closed = false;
  private queue: Queued[] = [];
  private failures = 0;
  private lastSent = 0;
  private bounceTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private readonly verifications = new Map<string, Verification>();

  constructor(
    readonly local: string,
    readonly remote: string,
    private readonly ctx: RouteContext,
  ) {}

  /** The authenticated stream of this route, if it has one now. */
  link(): S2sLink | undefined {
    const authentication = this.ready ? this.stream?.authentication : undefined;
    return (
      authentication && { local: this.local, remote: this.remote, direction: 'outgoing', ...authentication }
    );
  }

  send(stanza: Element): void {
    if (this.closed) return this.bounce(stanza, 'remote-server-not-found');
    if (this.ready && this.queue.length === 0 && this.stream!.accepting) {
      this.stream!.send(stanza);
      this.lastSent = Date.now();
      return;
    }
    if (this.queue.length >= this.ctx.limits.maxQueuedStanzas)
      return this.bounce(stanza, 'remote-server-timeout');
    this.queue.push({ stanza, deadline: Date.now() + this.ctx.limits.bounceTimeoutMs });
    this.scheduleBounce();
    if (!this.ready) this.ensureConnecting(false);
  }

  /** Asks the remote domain's server whether `key` is valid for our incoming stream `id` (XEP-0220 §2.2). */
  verify(id: string, key: string): Promise<DialbackVerdict> {
    if (this.closed) return Promise.resolve({ error: 'remote-server-not-found' });
    return new Promise((resolve) => {
      this.verifications.get(id)?.finish({ error: 'internal-server-error' });
      const timer = setTimeout(
        () => verification.finish({ error: 'remote-server-timeout' }),
        this.ctx.limits.negotiationTimeoutMs,
      );
      const verification: Verification = {
        key,
        sent: false,
        finish: (verdict) => {
          clearTimeout(timer);
          if (this.verifications.get(id) === verification) this.verifications.delete(id);
          resolve(verdict);
        },
      };
      this.verifications.set(id, verification);
      if (this.stream?.canVerify) this.sendVerifications();
      // A peer asking to be verified is evidence it is up again: no waiting for the back-off to end.
      else this.ensureConnecting(true);
    });
  }

  /** Ends the stream (system-shutdown) and bounces what waits. */
  close(): void {
    this.closed = true;
    for (const timer of [this.bounceTimer, this.retryTimer, this.idleTimer]) clearTimeout(timer);
    this.bounceAll('remote-server-timeout');
    this.finishVerifications({ error: 'remote-server-not-found' });
    this.stream?.close('system-shutdown');
  }

  // --- connecting -------------------------------------------------------------------------------------------------

  private ensureConnecting(skipBackoff: boolean): void {
    if (this.closed || this.stream || this.connecting) return;
    if (this.retryTimer !== undefined) {
      if (!skipBackoff) return;
      clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
    }
    this.connect().catch((error: unknown) => {
      this.ctx.logger.error(
        { remote: this.remote, err: error instanceof Error ? error.message : String(error) },
        's2s connect failed unexpectedly',
      );
      this.stream = undefined;
      this.failed('not-found');
    });
  }

  private async connect(): Promise<void> {
    this.connecting = true;
    let socket: Socket | undefined;
    let failure: OutgoingFailure = 'not-found';
    try {
      const candidates = await this.ctx.resolver(this.remote).catch(() => [] as S2sCandidate[]);
      let timeouts = 0;
      for (const candidate of candidates) {
        const result = await tcpConnect(candidate, this.ctx.limits.connectTimeoutMs);
        if (typeof result !== 'string') {
          socket = result;
          break;
        }
        this.ctx.logger.debug({ remote: this.remote, ...candidate, result }, 's2s connect failed');
        if (result === 'timeout') timeouts++;
      }
      // Every address silent: a timeout; refused or no address at all: not found.
      if (candidates.length > 0 && timeouts === candidates.length) failure = 'timeout';
    } finally {
      this.connecting = false;
    }
    if (this.closed) {
      socket?.destroy();
      return;
    }
    if (!socket) return this.failed(failure);
    this.stream = new OutgoingStream(socket, {
      local: this.local,
      remote: this.remote,
      tls: this.ctx.tls,
      dialbackSecret: this.ctx.dialbackSecret,
      logger: this.ctx.logger,
      limits: this.ctx.limits,
      events: {
        secured: () => this.sendVerifications(),
        ready: () => this.onReady(),
        drain: () => this.flush(),
        verified: (id, verdict) => this.verifications.get(id)?.finish(verdict),
        closed: (streamFailure, unacknowledged) => this.onClosed(streamFailure, unacknowledged),
      },
    });
  }

  private onReady(): void {
    this.ready = true;
    this.failures = 0;
    this.lastSent = Date.now();
    this.flush();
    this.scheduleIdle();
  }

  private onClosed(failure: OutgoingFailure | undefined, unacknowledged: Element[]): void {
    const wasReady = this.ready;
    this.stream = undefined;
    this.ready = false;
    clearTimeout(this.idleTimer);
    if (this.closed) {
      for (const stanza of unacknowledged) this.bounce(stanza, 'remote-server-timeout');
      return;
    }
    this.requeue(unacknowledged);
    if (failure !== undefined) return this.failed(failure);
    this.finishVerifications({ error: 'remote-server-not-found' });
    // A working stream went away (the peer restarted, or it was idle): whatever waits gets a new one at once.
    if (wasReady && this.queue.length > 0) this.ensureConnecting(false);
    this.retireIfUnused();
  }

  /** Nothing in use: no stream (or attempt), nothing queued, no verification, no retry due. */
  private retireIfUnused(): void {
    if (this.closed || this.stream || this.connecting || this.retryTimer !== undefined) return;
    if (this.queue.length > 0 || this.verifications.size > 0) return;
    this.closed = true;
    for (const timer of [this.bounceTimer, this.idleTimer]) clearTimeout(timer);
    this.ctx.retire(this);
  }

  /** A connection attempt failed: bounce what waits now, try again later for what comes meanwhile. */
  private failed(failure: OutgoingFailure): void {
    this.failures++;
    this.ctx.logger.info({ local: this.local, remote: this.remote, failure }, 's2s route unavailable');
    this.bounceAll(conditionOf(failure));
    this.finishVerifications({ error: conditionOf(failure) });
    const { reconnectBaseMs, reconnectMaxMs } = this.ctx.limits;
    const delay = Math.min(reconnectBaseMs * 2 ** (this.failures - 1), reconnectMaxMs);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.queue.length > 0 || this.verifications.size > 0) this.ensureConnecting(false);
      else this.retireIfUnused();
    }, delay);
    this.retryTimer.unref();
  }

  // --- the queue ------------------------------------------------------------------------------------------------------

  /**
   * Unacknowledged stanzas of a dead stream, ahead of what waits, in their order. They wait no longer than the
   * oldest waiting stanza (deadlines must not decrease along the queue), or a full bounce timeout when none waits.
   */
  private requeue(stanzas: Element[]): void {
    if (stanzas.length === 0) return;
    const deadline = this.queue[0]?.deadline ?? Date.now() + this.ctx.limits.bounceTimeoutMs;
    this.ctx.logger.info(
      { local: this.local, remote: this.remote, stanzas: stanzas.length },
      's2s stream lost with unacknowledged stanzas: sent again on the next stream',
    );
    this.queue = [...stanzas.map((stanza) => ({ stanza, deadline })), ...this.queue];
    this.scheduleBounce();
  }

  private flush(): void {
    if (!this.ready || !this.stream) return;
    let written = 0;
    while (written < this.queue.length && this.stream.accepting) {
      this.stream.send(this.queue[written]!.stanza);
      written++;
    }
    if (written > 0) {
      this.queue = this.queue.slice(written);
      this.lastSent = Date.now();
    }
  }

  private bounce(stanza: Element, condition: BounceCondition): void {
    try {
      this.ctx.router.bounced(stanza, condition);
    } catch (error) {
      this.ctx.logger.error(
        { err: error instanceof Error ? error.message : String(error) },
        's2s bounce failed',
      );
    }
  }

  private bounceAll(condition: BounceCondition): void {
    const queued = this.queue;
    this.queue = [];
    clearTimeout(this.bounceTimer);
    this.bounceTimer = undefined;
    for (const { stanza } of queued) this.bounce(stanza, condition);
  }

  /** One timer for the oldest waiting stanza (deadlines grow along the queue). */
  private scheduleBounce(): void {
    if (this.bounceTimer !== undefined || this.queue.length === 0) return;
    this.bounceTimer = setTimeout(
      () => {
        this.bounceTimer = undefined;
        const now = Date.now();
        let expired = 0;
        while (expired < this.queue.length && this.queue[expired]!.deadline <= now) expired++;
        const late = this.queue.slice(0, expired);
        this.queue = this.queue.slice(expired);
        for (const { stanza } of late) this.bounce(stanza, 'remote-server-timeout');
        this.scheduleBounce();
      },
      Math.max(0, this.queue[0]!.deadline - Date.now()),
    );
    this.bounceTimer.unref();
  }

  private scheduleIdle(delay?: number): void {
    const idle = this.ctx.limits.outgoingIdleMs;
    this.idleTimer = setTimeout(
      () => {
        if (!this.ready || !this.stream) return;
        const quiet = Date.now() - this.lastSent;
        if (quiet >= idle && this.stream.unackedCount > 0) {
          // Not closed before the peer has acknowledged everything: asked first, looked at again later.
          this.stream.requestAck();
          return this.scheduleIdle(this.ctx.limits.ackRequestMs);
        }
        if (quiet >= idle && this.queue.length === 0 && this.verifications.size === 0) {
          this.ctx.logger.debug(
            { local: this.local, remote: this.remote },
            's2s outgoing stream idle: closed',
          );
          this.stream.close();
          return;
        }
        this.scheduleIdle();
      },
      delay ?? Math.max(idle - (Date.now() - this.lastSent), 10),
    );
    this.idleTimer.unref();
  }

  // --- dialback verifications --------------------------------------------------------------------------------------

  private sendVerifications(): void {
    const stream = this.stream;
    if (!stream?.canVerify) return;
    for (const [id, verification] of this.verifications) {
      if (verification.sent) continue;
      verification.sent = true;
      stream.verify(id, verification.key);
    }
  }

  private finishVerifications(verdict: DialbackVerdict): void {
    for (const verification of [...this.verifications.values()]) verification.finish(verdict);
  }
}

/** TCP connection to one candidate, or why not. */
function tcpConnect(candidate: S2sCandidate, timeoutMs: number): Promise<Socket | 'refused' | 'timeout'> {
  return new Promise((resolve) => {
    const socket = netConnect({ host: candidate.host, port: candidate.port });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve('timeout');
    }, timeoutMs);
    const onError = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve('refused');
    };
    socket.once('error', onError);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeListener('error', onError);
      resolve(socket);
    });
  });
}
