/**
 * Request/reply on NATS core for the cluster's relayed messages: one subscription to an inbox of this server's,
 * each request published with a reply subject under it, answered or timed out here. nats.js's own `request` does
 * the same but builds an Error with a stack for every request it completes (to reject a promise already resolved):
 * 8 % of a relaying server's CPU, and much of its garbage, in the cluster benchmark.
 */
import { createInbox, type Msg, type NatsConnection, type Subscription } from 'nats';

/** Why a request has no answer: nobody listens on the subject (NATS's 503), or none came in time. */
export class Unanswered extends Error {
  constructor(readonly reason: 'no responders' | 'timeout' | 'closed') {
    super(`no answer: ${reason}`);
  }
}

interface Pending {
  resolve(msg: Msg): void;
  reject(error: Unanswered): void;
  timer: NodeJS.Timeout;
}

export class Requests {
  private readonly inbox = `${createInbox()}.`;
  private readonly pending = new Map<string, Pending>();
  private readonly subscription: Subscription;
  private next = 0;

  constructor(private readonly nc: NatsConnection) {
    this.subscription = nc.subscribe(`${this.inbox}*`, { callback: (_error, msg) => this.answered(msg) });
  }

  /** Publishes `data` to `subject` and resolves with the first answer, or rejects with Unanswered. */
  request(subject: string, data: Uint8Array, timeoutMs: number): Promise<Msg> {
    const token = (++this.next).toString(36);
    return new Promise<Msg>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(token);
        reject(new Unanswered('timeout'));
      }, timeoutMs);
      this.pending.set(token, { resolve, reject, timer });
      try {
        this.nc.publish(subject, data, { reply: this.inbox + token });
      } catch {
        this.settle(token)?.reject(new Unanswered('closed'));
      }
    });
  }

  /** Fails every request still waiting (the connection is closing). */
  close(): void {
    this.subscription.unsubscribe();
    for (const token of [...this.pending.keys()]) this.settle(token)?.reject(new Unanswered('closed'));
  }

  private answered(msg: Msg): void {
    const request = this.settle(msg.subject.slice(this.inbox.length));
    if (!request) return; // answered after its timeout, or twice
    // The NATS server answers a request nobody subscribes to with a status message 503 (no responders).
    if (msg.headers?.code === 503) request.reject(new Unanswered('no responders'));
    else request.resolve(msg);
  }

  private settle(token: string): Pending | undefined {
    const request = this.pending.get(token);
    if (!request) return undefined;
    this.pending.delete(token);
    clearTimeout(request.timer);
    return request;
  }
}
