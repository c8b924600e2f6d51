/**
 * Messages for the accounts of this message server, in order (docs/decisions/0016-message-order.md): what was stored
 * for an account (XEP-0160) reaches it before anything sent later. A message goes live to an account's resources
 * only while nothing stored is waiting for them; otherwise it joins offline storage behind what waits, and the
 * backlog run that follows an initial presence delivers it in turn.
 *
 * Per account with sessions here, from its first bind:
 * - opening: whether anything is stored is being asked (bind waits for the answer); messages arriving meanwhile are
 *   kept in memory, their senders' later answers held, and then go live or to storage in arrival order;
 * - waiting: something is stored; messages go to storage until a backlog run has delivered everything with nothing
 *   stored since;
 * - live: nothing is stored; messages go to the resources at once.
 * The state ends with the account's last session here.
 */
import type { Logger } from '@irsp/http';
import { parseElement, xml, type C2sSession, type Element } from '@irsp/xmpp';
import type { Delivery, Origin } from './delivery.js';
import type { OfflineStore } from './offline.js';

/** XEP-0203 delayed delivery. */
const DELAY_NS = 'urn:xmpp:delay';

/** Rows read per query when a backlog is delivered. */
const OFFLINE_QUERY_ROWS = 50;
/**
 * Bytes of stanzas written before their confirmation is awaited: well under the slow-reader limits
 * (C2sLimits.maxBufferedBytes), so a backlog never gets its reader cut off on its own.
 */
const OFFLINE_WINDOW_BYTES = 256 * 1024;

/** A message that arrived while its account was opening, with what its sender's answers wait for. */
interface Early {
  from: Origin | undefined;
  stanza: Element;
  targets: C2sSession[];
  settle(outcome: Promise<Element | undefined>): void;
}

interface Account {
  state: 'opening' | 'waiting' | 'live';
  early: Early[];
  /** Messages handed to storage for the account since it opened (a backlog run that read none may have missed them). */
  stores: number;
  /** Backlog runs under way. */
  runs: number;
}

export class Inbox {
  private readonly accounts = new Map<string, Account>();
  /** Sessions whose backlog run is under way (a second initial presence does not start another). */
  private readonly running = new WeakSet<C2sSession>();

  constructor(
    private readonly domain: string,
    private readonly offline: OfflineStore,
    private readonly delivery: Delivery,
    /** Whether a session has sent initial presence and not gone unavailable since. */
    private readonly available: (session: C2sSession) => boolean,
    private readonly logger: Logger,
  ) {}

  /**
   * An account's first session here is being bound: resolves once it is known whether stored messages wait for it.
   * Later sessions of the account find it known.
   */
  async opened(local: string): Promise<void> {
    if (this.accounts.has(local)) return;
    const account: Account = { state: 'opening', early: [], stores: 0, runs: 0 };
    this.accounts.set(local, account);
    let waiting = true;
    try {
      // A message stored since the account opened (one handed back by an ended session of it) counts too.
      waiting = (await this.offline.holds(local)) || account.stores > 0;
    } catch (error) {
      // Unknown: taken as waiting, so nothing overtakes what may be stored; initial presence delivers it.
      this.logger.error({ err: error, local }, 'offline storage not read at bind');
    }
    if (this.accounts.get(local) !== account) return;
    account.state = waiting ? 'waiting' : 'live';
    const early = account.early;
    account.early = [];
    for (const message of early)
      message.settle(this.handOver(account, local, message) ?? Promise.resolve(undefined));
  }

  /** The account's last session here has ended. */
  closed(local: string): void {
    const account = this.accounts.get(local);
    if (!account) return;
    this.accounts.delete(local);
    // Still opening: its early messages find no session now and are stored.
    for (const message of account.early) message.settle(this.persist(message.stanza, local, undefined));
  }

  /**
   * A message for `local`, for its resources `targets` (at least one): live when nothing stored waits for them,
   * else to storage behind what waits (resolving with the refusal to send in its place, if any). Messages storage
   * does not keep (XEP-0160 §3) go live regardless.
   */
  toResources(
    from: Origin | undefined,
    local: string,
    targets: C2sSession[],
    stanza: Element,
  ): Promise<Element | undefined> {
    const account = this.accounts.get(local);
    if (account?.state === 'opening') {
      let settle!: (outcome: Promise<Element | undefined>) => void;
      const outcome = new Promise<Element | undefined>((resolve) => (settle = resolve));
      account.early.push({ from, stanza, targets, settle });
      from?.hold(outcome);
      return outcome;
    }
    const stored = account && this.handOver(account, local, { from, stanza, targets });
    if (stored) {
      from?.hold(stored);
      return stored;
    }
    if (!account) this.live(from, targets, stanza);
    return Promise.resolve(undefined);
  }

  /**
   * Stores a message for `owner` (XEP-0160 §3: normal and chat; others are dropped) and resolves with the refusal to
   * send in its place, if any. The sender's next stanza is handled at once (group commit in offline.ts, in order),
   * but everything answered to the sender from now on waits until the message is committed (the output barrier): an
   * answer to a later stanza, a ping say, means the message is stored. A refusal — storage full, or the database
   * failing — takes the message's place there.
   */
  store(from: Origin | undefined, stanza: Element, owner: string): Promise<Element | undefined> {
    if (!isStorable(stanza)) return Promise.resolve(undefined);
    const outcome = this.persist(stanza, owner, this.accounts.get(owner));
    // No sender to hold (a message of an ended session handed back by XEP-0198): a failure is only logged.
    from?.hold(outcome);
    return outcome;
  }

  /** Writes a storable message for `owner`; resolves with the refusal to send in its place, if any. */
  private persist(
    stanza: Element,
    owner: string,
    account: Account | undefined,
  ): Promise<Element | undefined> {
    if (!isStorable(stanza)) return Promise.resolve(undefined);
    if (account) account.stores += 1;
    return this.offline.store(owner, stanza.toString()).then(
      (stored) =>
        stored
          ? undefined
          : this.delivery.errorReply(
              stanza,
              'wait',
              'resource-constraint',
              'offline storage of the recipient is full',
            ),
      (error: unknown) => {
        this.logger.error({ err: error, owner }, 'offline message not stored');
        return this.delivery.errorReply(stanza, 'wait', 'internal-server-error', 'not stored; try again');
      },
    );
  }

  /** A session sent initial presence: what was stored for its account follows (XEP-0160 §4). */
  initialPresence(session: C2sSession): void {
    if (this.running.has(session)) return;
    this.running.add(session);
    this.deliverStored(session)
      .catch((error: unknown) =>
        this.logger.error({ err: error, id: session.id }, 'offline messages not delivered'),
      )
      .finally(() => this.running.delete(session));
  }

  /** The stanza with our XEP-0203 delay stamp of `at`, unless it has one of ours already (then unchanged). */
  stamped(stanza: Element, at: Date): Element {
    if (stanza.getChildren('delay', DELAY_NS).some((delay) => delay.attrs.from === this.domain))
      return stanza;
    const copy = stanza.clone();
    copy.append(
      xml('delay', { xmlns: DELAY_NS, from: this.domain, stamp: at.toISOString() }, 'Offline Storage'),
    );
    return copy;
  }

  /**
   * A message once its account's state is known: live (undefined), or stored (the outcome, with the refusal to send
   * in its place, if any; not held here).
   */
  private handOver(
    account: Account,
    local: string,
    message: Omit<Early, 'settle'>,
  ): Promise<Element | undefined> | undefined {
    const targets = message.targets.filter((target) => this.isBound(target));
    if (targets.length === 0 || (account.state !== 'live' && isStorable(message.stanza)))
      return this.persist(message.stanza, local, account);
    this.live(message.from, targets, message.stanza);
    return undefined;
  }

  private isBound(session: C2sSession): boolean {
    return this.delivery.sessions.resource(session.jid.local!, session.jid.resource!) === session;
  }

  private live(from: Origin | undefined, targets: C2sSession[], stanza: Element): void {
    for (const target of targets) {
      if (from) this.delivery.deliver(from, target, stanza);
      else target.send(stanza);
    }
  }

  /**
   * Stored messages, oldest first, each with its XEP-0203 delay stamp — the first one: a message stored from an
   * ended session carries the time the server had it, and one stored again keeps the stamp of when it was first
   * stored. The backlog goes out in windows of OFFLINE_WINDOW_BYTES (rows read OFFLINE_QUERY_ROWS at a time), the
   * output drained after each, and at most two windows unconfirmed, so a backlog alone never makes the reader look
   * slow nor runs past the stream management limits. A row is deleted only once its stanza is confirmed
   * (sendConfirmed: acknowledged with XEP-0198, else handed to the operating system).
   *
   * When a read finds nothing and nothing was stored for the account since it began, everything stored has been
   * written to the session: the account goes live there and then, since what follows is written behind it on the
   * same stream. Confirmations are not waited for first: a client whose acks lag a stanza or two behind (xmpp.js
   * counts no iq results) must not hold every later message in storage. What is not confirmed in the end (its
   * session ended) stays stored, and the account waits again: another available session of the account gets it, or
   * the next initial presence does.
   */
  private async deliverStored(session: C2sSession): Promise<void> {
    const owner = session.jid.local!;
    const account = this.accounts.get(owner);
    if (!account) return;
    account.runs += 1;
    let confirmed = false;
    try {
      confirmed = await this.sendBacklog(session, owner, account);
    } finally {
      account.runs -= 1;
    }
    if (confirmed || this.accounts.get(owner) !== account || account.runs > 0) return;
    account.state = 'waiting';
    const next = this.delivery.sessions
      .resources(owner)
      .find((other) => other !== session && this.available(other));
    if (next) this.initialPresence(next);
  }

  /** One backlog run; true when everything it wrote was confirmed. */
  private async sendBacklog(session: C2sSession, owner: string, account: Account): Promise<boolean> {
    const windows: Promise<boolean>[] = [];
    let after: string | undefined;
    for (;;) {
      const stores = account.stores;
      const rows = await this.offline.pending(owner, { after, limit: OFFLINE_QUERY_ROWS });
      if (rows.length === 0) {
        if (account.stores !== stores) continue;
        // In the same step as the read that found nothing, so no message can be stored in between.
        if (account.runs === 1 && this.accounts.get(owner) === account) account.state = 'live';
        return (await Promise.all(windows)).every(Boolean);
      }
      after = rows.at(-1)!.id;
      for (let next = 0; next < rows.length;) {
        if (windows.length === 2 && !(await windows.shift()!)) {
          await Promise.all(windows);
          return false;
        }
        const sent: Promise<string | undefined>[] = [];
        for (let bytes = 0; next < rows.length && bytes < OFFLINE_WINDOW_BYTES; next++) {
          const message = rows[next]!;
          bytes += Buffer.byteLength(message.stanza);
          const stanza = this.stamped(parseElement(message.stanza), message.storedAt);
          sent.push(session.sendConfirmed(stanza).then((ok) => (ok ? message.id : undefined)));
        }
        windows.push(this.confirmWindow(owner, sent));
        await session.writable();
      }
    }
  }

  /** Deletes a window's confirmed rows; true when all of them were confirmed. */
  private async confirmWindow(owner: string, sent: Promise<string | undefined>[]): Promise<boolean> {
    const confirmed = await Promise.all(sent);
    try {
      await this.offline.delivered(confirmed.filter((id) => id !== undefined));
    } catch (error) {
      // Left stored: delivered again at a later login (at least once).
      this.logger.error({ err: error, owner }, 'delivered offline messages not deleted');
    }
    return !confirmed.includes(undefined);
  }
}

/** XEP-0160 §3: what offline storage keeps (normal and chat messages). */
const isStorable = (stanza: Element): boolean => ['normal', 'chat'].includes(stanza.attrs.type ?? 'normal');
