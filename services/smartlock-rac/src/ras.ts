/**
 * The RAC's side of clause 7.7: requests go to the RAS as XMPP messages to its JID (IRSP Message 8 at the RAS),
 * responses and Table 2 pushes come back as messages from it (Message 12). A response is matched to its request
 * by `id`; every text is parsed with @irsp/smartlock's parsers, so nothing the page shows went unchecked.
 */
import {
  buildRequest,
  parsePush,
  parseResponse,
  readVersionedObject,
  type Operation,
  type Push,
  type RequestBody,
  type SmartlockResponse,
} from '@irsp/smartlock/rac';
import { esc, type XmppSession } from './xmpp.js';

/** How long the RAC waits for a response (the RAS answers at once, or when the lock has, within its timeouts). */
const RESPONSE_TIMEOUT_MS = 30_000;

/** A request that got no usable answer: none in time, or one that did not parse. */
export class NoAnswer extends Error {
  constructor(readonly reason: 'timeout' | 'malformed') {
    super(`no answer from the RAS: ${reason}`);
  }
}

interface Waiting {
  operation: Operation;
  resolve(response: SmartlockResponse<Operation>): void;
  reject(error: Error): void;
}

/** Seconds-precision UTC, the one spelling the formats accept for an instant. */
export const isoSeconds = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

export class RasClient {
  private readonly waiting = new Map<string, Waiting>();
  private readonly pushListeners = new Set<(push: Push) => void>();
  private next = 0;

  constructor(
    private readonly session: XmppSession,
    private readonly ras: string,
  ) {
    session.onStanza((stanza) => this.received(stanza));
  }

  onPush(listener: (push: Push) => void): void {
    this.pushListeners.add(listener);
  }

  async ask<O extends Operation>(operation: O, body: RequestBody<O>): Promise<SmartlockResponse<O>> {
    const id = `rac-${Date.now().toString(36)}-${++this.next}`;
    const data = buildRequest({ id, operation, timestamp: isoSeconds(Date.now()), body });
    const answered = new Promise<SmartlockResponse<O>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new NoAnswer('timeout'));
      }, RESPONSE_TIMEOUT_MS);
      this.waiting.set(id, {
        operation,
        resolve: (response) => {
          clearTimeout(timer);
          resolve(response as SmartlockResponse<O>);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
    });
    this.session.send(`<message to='${esc(this.ras)}'><body>${esc(data)}</body></message>`);
    return answered;
  }

  private received(stanza: Element): void {
    if (stanza.localName !== 'message' || stanza.getAttribute('from') !== this.ras) return;
    const text = [...stanza.children].find((c) => c.localName === 'body')?.textContent;
    if (!text) return;
    const object = readVersionedObject(text);
    if (!object.ok) return;
    if ('event' in object.value) {
      const push = parsePush(text);
      if (push.ok) for (const listener of this.pushListeners) listener(push.value);
      return;
    }
    const id = object.value['id'];
    const waiting = typeof id === 'string' ? this.waiting.get(id) : undefined;
    if (!waiting) return;
    this.waiting.delete(id as string);
    const response = parseResponse(text, waiting.operation);
    if (response.ok) waiting.resolve(response.value);
    else waiting.reject(new NoAnswer('malformed'));
  }
}
