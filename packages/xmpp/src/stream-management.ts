/**
 * XEP-0198 (v1.6) stream management bookkeeping, without I/O: the count of stanzas handled from the peer (`h` we
 * report), the stanzas sent to it and not yet acknowledged (in order), and the `<r/>`, `<a/>`, `<enable/>`,
 * `<resume/>` elements. c2s and s2s streams both keep one per stream; the connection does the writing.
 */
import { NS } from './namespaces.js';
import { xml, type Element } from './xml/element.js';

/** Sequence numbers wrap at 2^32 (XEP-0198 §4). */
const MODULUS = 2 ** 32;

/** A stanza sent and not yet acknowledged. */
export interface Unacked {
  stanza: Element;
  /** Told the outcome: true once acknowledged, false when the stream ends without it (sendConfirmed). */
  confirm?: (acknowledged: boolean) => void;
  /** Our own (an XEP-0199 ping): nobody else is to be told about it. */
  internal?: boolean;
  /** When it was first sent (ms since the epoch): the time the server had it, for a delay stamp. */
  at?: number;
}

/** A place kept in the queue for a stanza that may be written ahead of those sent after it (reserve()). */
export interface Reserved {
  readonly reserved: true;
}

export class StreamManagement {
  /** Stanzas handled from the peer, mod 2^32: the `h` of our `<a/>`. */
  private handled = 0;
  /** Stanzas of ours the peer acknowledged, mod 2^32. */
  private acked = 0;
  private queue: (Unacked | Reserved)[] = [];
  /** Places of the queue reserved and not yet filled. */
  private reservedCount = 0;
  /** Counted stanzas sent since our last `<r/>`. */
  private sinceRequest = 0;

  /** A stanza from the peer has been handled (its routing has settled). */
  handledOne(): void {
    this.handled = (this.handled + 1) % MODULUS;
  }

  get handledCount(): number {
    return this.handled;
  }

  /** How many stanzas we sent on this session, mod 2^32 (acknowledged or not). */
  get sentCount(): number {
    return (this.acked + this.queue.length - this.reservedCount) % MODULUS;
  }

  get unackedCount(): number {
    return this.queue.length - this.reservedCount;
  }

  /** Records a sent stanza; true when an ack should be requested (every `requestEvery` stanzas). */
  sent(entry: Unacked, requestEvery: number): boolean {
    entry.at ??= Date.now();
    this.queue.push(entry);
    if (++this.sinceRequest < requestEvery) return false;
    this.sinceRequest = 0;
    return true;
  }

  /**
   * Keeps a place for a stanza that, if it comes, is written at the place of an output barrier (a refusal of a held
   * message), ahead of stanzas counted after this call but written only once the barrier opens. So the queue keeps
   * the order of the wire. Filled or released before any ack can cover it: nothing after it has been written yet.
   */
  reserve(): Reserved {
    const place: Reserved = { reserved: true };
    this.queue.push(place);
    this.reservedCount++;
    return place;
  }

  /** The reserved place now holds `entry` (being written); false when it was released meanwhile. */
  fill(place: Reserved, entry: Unacked): boolean {
    const i = this.queue.indexOf(place);
    if (i < 0) return false;
    entry.at ??= Date.now();
    this.queue[i] = entry;
    this.reservedCount--;
    return true;
  }

  /** Nothing came for the place: it leaves the queue. */
  release(place: Reserved): void {
    const i = this.queue.indexOf(place);
    if (i < 0) return;
    this.queue.splice(i, 1);
    this.reservedCount--;
  }

  /** Every place still reserved leaves the queue (the stream moves: what comes for them is sent afresh). */
  releaseReserved(): void {
    this.queue = this.queue.filter(isSent);
    this.reservedCount = 0;
  }

  /** An `<r/>` is being sent for whatever is outstanding. */
  requested(): void {
    this.sinceRequest = 0;
  }

  /**
   * The peer's `h` (from `<a/>`, `<resume/>` or `<resumed/>`): the entries it covers leave the queue and are
   * returned; `too-high` when it acknowledges more than we sent (or goes backwards, which mod 2^32 is the same).
   */
  acknowledge(h: number): Unacked[] | 'too-high' {
    const count = (h - this.acked + MODULUS) % MODULUS;
    // A reserved place was never written: an ack cannot reach it.
    const reserved = this.reservedCount === 0 ? -1 : this.queue.findIndex((entry) => !isSent(entry));
    if (count > (reserved < 0 ? this.queue.length : reserved)) return 'too-high';
    this.acked = h;
    return this.queue.splice(0, count).filter(isSent);
  }

  /** Everything still unacknowledged, in order, and the queue emptied (the session ends). */
  drain(): Unacked[] {
    const all = this.queue;
    this.queue = [];
    this.reservedCount = 0;
    return all.filter(isSent);
  }

  /** What is still unacknowledged, in order (re-sent on a resumed stream, where it stays queued). */
  pending(): readonly Unacked[] {
    return this.queue.filter(isSent);
  }
}

const isSent = (entry: Unacked | Reserved): entry is Unacked => !('reserved' in entry);

/** An `h` attribute: an xs:unsignedInt (0 … 2^32 − 1), digits only; undefined when absent or anything else. */
export function parseH(value: string | undefined): number | undefined {
  if (value === undefined || !/^[0-9]{1,10}$/.test(value)) return undefined;
  const h = Number(value);
  return h < MODULUS ? h : undefined;
}

/** xs:boolean; undefined when the value is not one. */
export function parseBoolean(value: string | undefined): boolean | undefined {
  if (value === undefined) return false;
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  return undefined;
}

export const ackElement = (h: number): Element => xml('a', { xmlns: NS.sm, h: String(h) });
export const requestElement = (): Element => xml('r', { xmlns: NS.sm });

/** `<failed/>` with a stanza error condition (XEP-0198 §3, §5), and the `h` we handled when we know it. */
export function failedElement(condition: string, h?: number): Element {
  return xml(
    'failed',
    { xmlns: NS.sm, h: h === undefined ? undefined : String(h) },
    xml(condition, { xmlns: NS.stanzas }),
  );
}

/** XEP-0198 §4: the application condition of the `undefined-condition` stream error for an impossible `h`. */
export function handledCountTooHigh(h: number, sent: number): Element {
  return xml('handled-count-too-high', { xmlns: NS.sm, h: String(h), 'send-count': String(sent) });
}
