/** What the engine gives the routing layer for each connected client (RFC 6120 resource binding). */
import type { Jid } from '../jid.js';
import type { Element } from '../xml/element.js';
import type { StreamErrorCondition } from '../errors.js';

export interface C2sSession {
  /** Stream id, unique per connection. */
  readonly id: string;
  /** Full JID once bound. */
  readonly jid: Jid;
  readonly remoteAddress: string | undefined;
  /**
   * Writes a stanza; false when the client reads slowly and it is worth pausing its sender a moment (back-pressure).
   * A reader behind for longer than `senderPauseMs` is not waited for: true, and the slow-reader limits apply.
   */
  send(stanza: Element): boolean;
  /**
   * Writes a stanza and resolves true once it is safe with the client — acknowledged (XEP-0198) when stream management
   * is on, otherwise once the transport has handed it to the operating system — or false when the session ends
   * first. The caller keeps what it owns (an offline message's row) until then.
   */
  sendConfirmed(stanza: Element): Promise<boolean>;
  /**
   * Output barrier: everything written to this session after hold() (stanzas, errors, answers) waits, in order,
   * until `durable` and every promise held before it have settled; nothing read is held up. When `durable` resolves
   * to an Element (a refusal of the stanza that was held), that element is written at the barrier's place.
   */
  hold(durable: Promise<unknown>): void;
  /** Resolves when queued output has drained (immediately when nothing is queued). */
  writable(): Promise<void>;
  /** Stops reading from this client until resume() (while a recipient of its stanzas catches up). */
  pause(): void;
  resume(): void;
  /** Ends the stream, with a stream error when a condition is given. */
  close(condition?: StreamErrorCondition, text?: string): void;
}

/** The routing layer the message server plugs in (stanza router, rosters, presence, offline storage…). */
export interface C2sRouter {
  /** A resource has been bound (RFC 6120 §7). The router replaces an older session of the same full JID. */
  bound(session: C2sSession): void | Promise<void>;
  /** A stanza from a bound session; `from` is stamped with its full JID and `to` is valid when present. */
  route(session: C2sSession, stanza: Element): void | Promise<void>;
  /**
   * XEP-0198: a session with stream management enabled has ended without being resumed; `stanzas` are those sent
   * with send() that the client did not acknowledge, in order (none are lost: store them or answer their senders).
   * Called once, just before unbound(). Stanzas of sendConfirmed() are not among them (their promise says false;
   * a session waiting for resumption is not ended, so they stay pending). `sentAt[i]`: when `stanzas[i]` was first
   * given to the session (the time the server had it, for a delay stamp).
   */
  unacknowledged?(session: C2sSession, stanzas: Element[], sentAt: Date[]): void | Promise<void>;
  /** The session has ended (after bound()). While it waits to be resumed (XEP-0198 §5) it is still bound. */
  unbound(session: C2sSession): void;
}
