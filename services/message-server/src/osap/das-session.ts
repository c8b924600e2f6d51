/**
 * An OSAP device's DAS connection as a session of the message router (decision 0027): the router binds it, routes
 * to it and from it exactly as for an XMPP session of the device account, so presence, relationships, blocking,
 * §9 access rights, offline storage and point-to-multipoint all hold for it unchanged. This class translates:
 *
 * - to the device: a message with a body (a related account's command, an application server's Message 13) and an
 *   iq `<operate xmlns="urn:irsp:osap:0">` become an operation on `operation/down` (`{"id", "from", "data"}`);
 *   other iq requests are answered service-unavailable (the device speaks no XMPP), the rest is dropped;
 * - from the device: its result (`operation/up`, `{"id", "data"}`) goes back to whoever asked — the iq result, or a
 *   message to the account or application server that sent the message — and its events become its
 *   point-to-multipoint message to its related accounts.
 *
 * Until the device subscribes to `operation/down` what it is sent waits here (a bounded queue), so that what offline
 * storage delivers at its connection is not published to nobody; what still waits when the connection ends goes
 * back to the router as unacknowledged (stored offline, iqs answered). A requester waits at most `timeoutMs` for a
 * result, then gets recipient-unavailable (wait).
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from '@irsp/http';
import type { OperationDown } from '@irsp/osap';
import {
  bareString,
  jidToString,
  parseJid,
  stanzaError,
  xml,
  type C2sSession,
  type Element,
  type Jid,
  type StreamErrorCondition,
} from '@irsp/xmpp';
import { OSAP_NS } from '../xmpp/osap-iqs.js';

/** Operations per connection waiting for the device's subscription or awaiting its result. */
const MAX_OPERATIONS = 512;

export interface DasSessionLink {
  /** Publishes an operation on the device's `operation/down` topic; resolves once the broker has it. */
  publish(operation: OperationDown): Promise<void>;
  /** A stanza from the device, its `from` stamped, to the router. */
  route(stanza: Element): Promise<void>;
  /** Ends the MQTT connection (the router replaced or removed the account). */
  close(): void;
}

interface Operation {
  id: string;
  /** The request: an iq (answered with its result) or a message (answered with a message). */
  stanza: Element;
  confirm?: (ok: boolean) => void;
  timer?: NodeJS.Timeout;
  /** Answered already (a result, a timeout, the connection's end). */
  done: boolean;
  at: Date;
}

export class DasSession implements C2sSession {
  readonly id = `osap-${randomBytes(8).toString('hex')}`;
  private listening = false;
  private ended = false;
  private readonly queue: Operation[] = [];
  private readonly pending = new Map<string, Operation>();
  private publishing: Promise<void> = Promise.resolve();
  private readonly holds = new Set<Promise<unknown>>();

  constructor(
    readonly jid: Jid,
    readonly remoteAddress: string | undefined,
    private readonly link: DasSessionLink,
    private readonly timeoutMs: number,
    private readonly logger: Logger,
  ) {}

  private get full(): string {
    return jidToString(this.jid);
  }

  // --- to the device ---------------------------------------------------------------------------------------------

  send(stanza: Element): boolean {
    this.take(stanza);
    return true;
  }

  sendConfirmed(stanza: Element): Promise<boolean> {
    return new Promise((resolve) => {
      if (!this.take(stanza, resolve)) resolve(!this.ended);
    });
  }

  /** Takes a stanza for the device; false when it is not an operation (dropped or answered here). */
  private take(stanza: Element, confirm?: (ok: boolean) => void): boolean {
    if (this.ended) return false;
    const request = isOperation(stanza, bareString(this.jid));
    if (request === 'refuse') {
      this.answer(stanzaError(stanza, 'cancel', 'service-unavailable'));
      return false;
    }
    if (!request) return false;
    if (this.queue.length + this.pending.size >= MAX_OPERATIONS) {
      this.answer(stanzaError(stanza, 'wait', 'resource-constraint', 'too many operations under way'));
      return false;
    }
    const operation: Operation = {
      id: randomBytes(9).toString('base64url'),
      stanza,
      done: false,
      at: new Date(),
    };
    if (confirm) operation.confirm = confirm;
    operation.timer = setTimeout(() => this.timedOut(operation), this.timeoutMs);
    operation.timer.unref();
    if (this.listening) this.dispatch(operation);
    else this.queue.push(operation);
    return true;
  }

  /** The device subscribed to its operation channel: what waited is published, in order. */
  listen(): void {
    if (this.listening || this.ended) return;
    this.listening = true;
    for (const operation of this.queue.splice(0)) this.dispatch(operation);
  }

  /** One publish at a time: the platform → device counters must reach the device in increasing order. */
  private dispatch(operation: Operation): void {
    this.publishing = this.publishing.then(async () => {
      if (operation.done || this.ended) return operation.confirm?.(false);
      this.pending.set(operation.id, operation);
      const from = parseJid(operation.stanza.attrs.from ?? '');
      try {
        await this.link.publish({
          id: operation.id,
          from: from ? bareString(from) : '',
          data: requestText(operation.stanza),
        });
        operation.confirm?.(true);
      } catch (error) {
        this.logger.error({ err: error, jid: this.full }, 'osap das: operation not published');
        operation.confirm?.(false);
        this.finish(operation, stanzaError(operation.stanza, 'wait', 'internal-server-error'));
      }
    });
  }

  private timedOut(operation: Operation): void {
    if (operation.done) return;
    const queued = this.queue.indexOf(operation);
    if (queued >= 0) this.queue.splice(queued, 1);
    this.finish(
      operation,
      stanzaError(operation.stanza, 'wait', 'recipient-unavailable', 'the device did not answer in time'),
    );
  }

  /** Ends an operation; `answer` goes to its requester (an iq's only: a message's requester is not answered). */
  private finish(operation: Operation, answer: Element | undefined): void {
    if (operation.done) return;
    operation.done = true;
    clearTimeout(operation.timer);
    this.pending.delete(operation.id);
    if (answer && (operation.stanza.name === 'iq' || answer.attrs.type !== 'error')) this.answer(answer);
  }

  // --- from the device -------------------------------------------------------------------------------------------

  /** The device's result of operation `id`; false when no operation of that id awaits one (late or unknown). */
  result(id: string, data: string): boolean {
    const operation = this.pending.get(id);
    if (!operation) return false;
    const request = operation.stanza;
    const answer =
      request.name === 'iq'
        ? xml(
            'iq',
            { type: 'result', id: request.attrs.id, from: request.attrs.to, to: request.attrs.from },
            xml('result', { xmlns: OSAP_NS }, data),
          )
        : xml(
            'message',
            { type: 'normal', to: request.attrs.from, id: `result-${operation.id}` },
            xml('body', {}, data),
            xml('result', { xmlns: OSAP_NS, id: request.attrs.id }),
          );
    this.finish(operation, answer);
    return true;
  }

  /** A device's event: its point-to-multipoint message (14543-5-8 §11) to every related account. */
  event(data: string): Promise<void> {
    return this.routed(
      xml(
        'message',
        { type: 'normal', to: bareString(this.jid), id: `event-${randomBytes(6).toString('hex')}` },
        xml('body', {}, data),
        xml('event', { xmlns: OSAP_NS }),
      ),
    );
  }

  /** Initial presence: the device is available to its related accounts. */
  available(): Promise<void> {
    return this.routed(xml('presence'));
  }

  /** Routes a stanza of the device's and waits for what the router holds for it (e.g. offline storage). */
  private async routed(stanza: Element): Promise<void> {
    stanza.attrs.from ??= this.full;
    await this.link.route(stanza);
    while (this.holds.size > 0) await Promise.allSettled([...this.holds]);
  }

  private answer(stanza: Element): void {
    this.routed(stanza).catch((error: unknown) =>
      this.logger.error({ err: error, jid: this.full }, 'osap das: answer not routed'),
    );
  }

  /**
   * The connection has ended: operations awaiting a result are answered recipient-unavailable; what was never
   * published is returned (the router stores it offline or answers it, as for an XMPP session's unacknowledged
   * stanzas), with when it arrived.
   */
  end(): { stanzas: Element[]; sentAt: Date[] } {
    this.ended = true;
    const unsent = this.queue.splice(0);
    for (const operation of unsent) {
      operation.done = true;
      clearTimeout(operation.timer);
      operation.confirm?.(false);
    }
    for (const operation of [...this.pending.values()])
      this.finish(
        operation,
        stanzaError(operation.stanza, 'wait', 'recipient-unavailable', 'the device went offline'),
      );
    const returned = unsent.filter((o) => !o.confirm);
    return { stanzas: returned.map((o) => o.stanza), sentAt: returned.map((o) => o.at) };
  }

  // --- the rest of a session -------------------------------------------------------------------------------------

  hold(durable: Promise<unknown>): void {
    this.holds.add(durable);
    void durable.finally(() => this.holds.delete(durable)).catch(() => undefined);
  }

  writable(): Promise<void> {
    return Promise.resolve();
  }

  pause(): void {}

  resume(): void {}

  close(_condition?: StreamErrorCondition, _text?: string): void {
    this.link.close();
  }
}

/**
 * What a stanza to an OSAP device is: an operation (a message with a body, an iq set with `<operate>`), an iq
 * request to refuse, or nothing to do (presence, answers, errors, the server's roster pushes).
 */
function isOperation(stanza: Element, own: string): boolean | 'refuse' {
  const from = parseJid(stanza.attrs.from ?? '');
  // The device's own point-to-multipoint messages (from another session of it) are not operations.
  if (from && bareString(from) === own) return false;
  if (stanza.name === 'message')
    return (
      from !== undefined &&
      ['normal', 'chat'].includes(stanza.attrs.type ?? 'normal') &&
      stanza.getChild('body') !== undefined
    );
  if (stanza.name !== 'iq' || (stanza.attrs.type !== 'get' && stanza.attrs.type !== 'set')) return false;
  if (from?.local === undefined) return false;
  return stanza.attrs.type === 'set' && stanza.getChild('operate', OSAP_NS) !== undefined ? true : 'refuse';
}

function requestText(stanza: Element): string {
  return stanza.name === 'iq'
    ? stanza.getChild('operate', OSAP_NS)!.text()
    : (stanza.getChildText('body') ?? '');
}
