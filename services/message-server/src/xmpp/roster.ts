/**
 * Relationships (14543-5-8 §10) stored as rosters (RFC 6121 §2). The IRSP rule on top of RFC 6121: an approved
 * request (or a device's verification code) establishes the relationship in both directions at once, and releasing
 * it by either side removes both directions. A relationship may cross ASs (clause 8.5): owners are always accounts
 * of this AS (local parts); contacts and requesters are bare JIDs, of this AS or another. An operation on a pair
 * changes the rows of whichever side lives here; the other AS's message server changes its own. With a plain
 * RFC 6121 server's user a row may also hold a one-way state ('to', 'from'), which is no relationship (decision 0026).
 */
import type { Db, Queryable } from '@irsp/store';
import { userBound, userReleased } from './access.js';

export type Subscription = 'none' | 'to' | 'from' | 'both';

/** One owner's view of a pair: its roster row (if any) and whether a request from the contact waits. */
export interface PairState {
  subscription: Subscription;
  ask: boolean;
  /** A request from the contact waits for the owner; `mutual` when it came from an IRSP account. */
  pendingIn: { mutual: boolean } | undefined;
}

export interface RosterItem {
  contact: string;
  name: string | null;
  subscription: Subscription;
  ask: boolean;
  groups: string[];
}

/** A change to one owner's roster, to be pushed to its online resources (RFC 6121 §2.1.6). */
export interface RosterChange {
  owner: string;
  item: RosterItem | { contact: string; subscription: 'remove' };
}

const COLUMNS = 'contact, name, subscription, ask, groups';

/**
 * Serialises the changes to one pair (request, establish, deny, release): both sides approving at once would
 * otherwise write the pair's two rows in opposite orders, which PostgreSQL ends with `deadlock detected`
 * (seen with 50 pairs relating at once in `pnpm bench` on PostgreSQL; PGlite runs one transaction at a time).
 */
async function lockPair(tx: Queryable, a: string, b: string): Promise<void> {
  const [first, second] = a < b ? [a, b] : [b, a];
  await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`roster:${first} ${second}`]);
}
/** Accounts whose relationships are kept in memory; the oldest loaded is dropped first. */
const CACHED_OWNERS = 50_000;
/** Local parts known to exist (pushes, messages and presence to them are checked); the oldest is dropped first. */
const CACHED_ACCOUNTS = 100_000;

export class RosterStore {
  /**
   * The relationships of recently active owners: every stanza between accounts is checked against them (blocking),
   * so they are read once, not per stanza. Every change below goes through this class and drops the owners it
   * touches, here and (in a cluster) on the other message servers of the AS.
   */
  private readonly relatedCache = new Map<string, Set<string>>();
  /** Bumped when an owner's entry is dropped, so that a read that raced a change does not store stale rows. */
  private readonly generation = new Map<string, number>();
  /**
   * Accounts found to exist: every push (Messages 12–13) and every stanza to a local account asks, so a yes is
   * read once. Only yes is kept (a new account is found by the next read); an account removed by Message 5/6
   * leaves it when `forget` starts, before its rows go, with its generation bumped like the relationships'.
   */
  private readonly existing = new Set<string>();
  private announce: ((owners: string[]) => void) | undefined;

  constructor(
    private readonly db: Db,
    private readonly domain: string,
  ) {}

  private async relatedSet(owner: string): Promise<Set<string>> {
    const cached = this.relatedCache.get(owner);
    if (cached) return cached;
    const before = this.generation.get(owner) ?? 0;
    const r = await this.db.query<{ contact: string }>(
      `SELECT contact FROM roster WHERE owner = $1 AND subscription = 'both' ORDER BY contact`,
      [owner],
    );
    const set = new Set(r.rows.map((row) => row.contact));
    if ((this.generation.get(owner) ?? 0) === before) {
      if (this.relatedCache.size >= CACHED_OWNERS)
        this.relatedCache.delete(this.relatedCache.keys().next().value!);
      this.relatedCache.set(owner, set);
    }
    return set;
  }

  /** Drops cached relationships of local owners (bare JIDs of other ASs are ignored), here and on the cluster. */
  private changed(...owners: string[]): void {
    this.drop(owners);
    if (owners.length > 0) this.announce?.(owners);
  }

  /** Drops what is cached of these owners here (a change made here, or one another message server announced). */
  drop(owners: Iterable<string>): void {
    for (const owner of owners) {
      this.relatedCache.delete(owner);
      this.existing.delete(owner);
      this.generation.set(owner, (this.generation.get(owner) ?? 0) + 1);
    }
  }

  /** Drops everything cached (changes announced while the cluster bus was out of reach were missed). */
  dropAll(): void {
    this.drop([...new Set([...this.relatedCache.keys(), ...this.existing])]);
  }

  /** Tells the other message servers of the AS which owners changed (decision 0024). */
  announceChanges(announce: (owners: string[]) => void): void {
    this.announce = announce;
  }

  /** The bare JID of a local part of this AS. */
  bare(local: string): string {
    return `${local}@${this.domain}`;
  }

  /** The local part of a bare JID of this AS; undefined for another AS. */
  local(bare: string): string | undefined {
    const at = bare.lastIndexOf('@');
    return at > 0 && bare.slice(at + 1) === this.domain ? bare.slice(0, at) : undefined;
  }

  async list(owner: string): Promise<RosterItem[]> {
    return (
      await this.db.query<RosterItem>(`SELECT ${COLUMNS} FROM roster WHERE owner = $1 ORDER BY contact`, [
        owner,
      ])
    ).rows;
  }

  private async item(q: Queryable, owner: string, contact: string): Promise<RosterItem | undefined> {
    const r = await q.query<RosterItem>(`SELECT ${COLUMNS} FROM roster WHERE owner = $1 AND contact = $2`, [
      owner,
      contact,
    ]);
    return r.rows[0];
  }

  async accountExists(local: string): Promise<boolean> {
    if (this.existing.has(local)) return true;
    const before = this.generation.get(local) ?? 0;
    const found =
      (await this.db.query('SELECT 1 FROM accounts WHERE local_part = $1', [local])).rowCount === 1;
    if (found && (this.generation.get(local) ?? 0) === before) {
      if (this.existing.size >= CACHED_ACCOUNTS) this.existing.delete(this.existing.values().next().value!);
      this.existing.add(local);
    }
    return found;
  }

  async verifyCodeHash(local: string): Promise<string | null | undefined> {
    const r = await this.db.query<{ verify_code_hash: string | null }>(
      `SELECT verify_code_hash FROM accounts WHERE local_part = $1 AND kind = 'device'`,
      [local],
    );
    return r.rows[0]?.verify_code_hash;
  }

  /** Whether the local account `owner` is related to `contact` (the blocking rule of clause 7.2 b–d). */
  async related(owner: string, contact: string): Promise<boolean> {
    return (await this.relatedSet(owner)).has(contact);
  }

  /** Bare JIDs related to `owner`, of this AS and others (for presence broadcast, p2mp and removal). */
  async relatedContacts(owner: string): Promise<string[]> {
    return [...(await this.relatedSet(owner))];
  }

  /**
   * A request from `requester` to `target`, kept until answered; the requester's item shows it pending unless it
   * already holds a subscription to the target ('to', RFC 6121 has no pending-out on top of it). `mutual`: the
   * request relates both directions once approved (an IRSP account), else only the requester's (a plain RFC 6121
   * server's user, decision 0026).
   */
  async request(requester: string, target: string, mutual = true): Promise<RosterChange[]> {
    return this.db.transaction(async (tx) => {
      await lockPair(tx, requester, target);
      const targetLocal = this.local(target);
      if (targetLocal !== undefined) {
        await tx.query(
          `INSERT INTO subscription_requests (owner, requester, mutual) VALUES ($1, $2, $3)
           ON CONFLICT (owner, requester) DO UPDATE SET mutual = $3`,
          [targetLocal, requester, mutual],
        );
      }
      const requesterLocal = this.local(requester);
      if (requesterLocal === undefined) return [];
      const updated = await tx.query(
        `INSERT INTO roster (owner, contact, ask) VALUES ($1, $2, true)
         ON CONFLICT (owner, contact) DO UPDATE SET ask = true WHERE roster.subscription IN ('none', 'from')`,
        [requesterLocal, target],
      );
      if (updated.rowCount === 0) return [];
      return [{ owner: requesterLocal, item: (await this.item(tx, requesterLocal, target))! }];
    });
  }

  /** The local account `owner`'s side of the pair with `contact`. */
  async state(owner: string, contact: string): Promise<PairState> {
    const [row, pending] = await Promise.all([
      this.item(this.db, owner, contact),
      this.db.query<{ mutual: boolean }>(
        'SELECT mutual FROM subscription_requests WHERE owner = $1 AND requester = $2',
        [owner, contact],
      ),
    ]);
    return {
      subscription: row?.subscription ?? 'none',
      ask: row?.ask ?? false,
      pendingIn: pending.rows[0] ? { mutual: pending.rows[0].mutual } : undefined,
    };
  }

  /**
   * A one-way state with a plain RFC 6121 server's user (decision 0026): the local account `owner` holds `to` (its
   * request was approved there) or `from` (it approved that user's request, which is settled), with its own
   * request pending or not. Never 'both': that is `establish`.
   */
  async oneWay(
    owner: string,
    contact: string,
    subscription: 'to' | 'from',
    ask: boolean,
  ): Promise<RosterChange[]> {
    return this.db.transaction(async (tx) => {
      await lockPair(tx, this.bare(owner), contact);
      await tx.query(
        `INSERT INTO roster (owner, contact, subscription, ask) VALUES ($1, $2, $3, $4)
         ON CONFLICT (owner, contact) DO UPDATE SET subscription = $3, ask = $4`,
        [owner, contact, subscription, ask],
      );
      await tx.query('DELETE FROM subscription_requests WHERE owner = $1 AND requester = $2', [
        owner,
        contact,
      ]);
      return [{ owner, item: (await this.item(tx, owner, contact))! }];
    });
  }

  async pendingRequests(owner: string): Promise<string[]> {
    const r = await this.db.query<{ requester: string }>(
      'SELECT requester FROM subscription_requests WHERE owner = $1 ORDER BY created_at',
      [owner],
    );
    return r.rows.map((row) => row.requester);
  }

  /** Whether the local account `owner` has a pending request from `requester`. */
  async hasRequest(owner: string, requester: string): Promise<boolean> {
    const r = await this.db.query('SELECT 1 FROM subscription_requests WHERE owner = $1 AND requester = $2', [
      owner,
      requester,
    ]);
    return r.rowCount === 1;
  }

  /** Whether the local account `owner` asked `contact` for a relationship that is not established yet. */
  async asked(owner: string, contact: string): Promise<boolean> {
    const r = await this.db.query(
      `SELECT 1 FROM roster WHERE owner = $1 AND contact = $2 AND ask AND subscription <> 'both'`,
      [owner, contact],
    );
    return r.rowCount === 1;
  }

  /** Establishes the relationship in both directions; any pending requests between the two are settled. */
  async establish(a: string, b: string): Promise<RosterChange[]> {
    return this.db
      .transaction(async (tx) => {
        await lockPair(tx, a, b);
        const changes: RosterChange[] = [];
        for (const [ownerJid, other] of [
          [a, b],
          [b, a],
        ] as const) {
          const owner = this.local(ownerJid);
          if (owner === undefined) continue;
          await tx.query(
            `INSERT INTO roster (owner, contact, subscription, ask) VALUES ($1, $2, 'both', false)
           ON CONFLICT (owner, contact) DO UPDATE SET subscription = 'both', ask = false`,
            [owner, other],
          );
          await tx.query('DELETE FROM subscription_requests WHERE owner = $1 AND requester = $2', [
            owner,
            other,
          ]);
          changes.push({ owner, item: (await this.item(tx, owner, other))! });
        }
        const binding = this.binding(a, b);
        if (binding) await userBound(tx, binding.device, binding.user);
        return changes;
      })
      .finally(() => this.changed(...this.locals(a, b)));
  }

  private locals(...jids: string[]): string[] {
    return jids.map((jid) => this.local(jid)).filter((local) => local !== undefined);
  }

  /** The target refuses a pending request: it is dropped, and the requester's item loses its pending mark. */
  async deny(target: string, requester: string): Promise<RosterChange[]> {
    return this.db.transaction(async (tx) => {
      await lockPair(tx, target, requester);
      const targetLocal = this.local(target);
      if (targetLocal !== undefined) {
        const removed = await tx.query(
          'DELETE FROM subscription_requests WHERE owner = $1 AND requester = $2',
          [targetLocal, requester],
        );
        if (removed.rowCount === 0) return [];
      }
      const requesterLocal = this.local(requester);
      if (requesterLocal === undefined) return [];
      const updated = await tx.query(
        `UPDATE roster SET ask = false WHERE owner = $1 AND contact = $2 AND ask AND subscription <> 'both'`,
        [requesterLocal, target],
      );
      if (updated.rowCount === 0) return [];
      return [{ owner: requesterLocal, item: (await this.item(tx, requesterLocal, target))! }];
    });
  }

  /** Releases the relationship (either side): both directions and any pending requests are removed. */
  async release(a: string, b: string): Promise<RosterChange[]> {
    return this.db
      .transaction(async (tx) => {
        await lockPair(tx, a, b);
        const changes: RosterChange[] = [];
        for (const [ownerJid, other] of [
          [a, b],
          [b, a],
        ] as const) {
          const owner = this.local(ownerJid);
          if (owner === undefined) continue;
          await tx.query('DELETE FROM subscription_requests WHERE owner = $1 AND requester = $2', [
            owner,
            other,
          ]);
          const removed = await tx.query('DELETE FROM roster WHERE owner = $1 AND contact = $2', [
            owner,
            other,
          ]);
          if (removed.rowCount > 0) changes.push({ owner, item: { contact: other, subscription: 'remove' } });
        }
        const binding = this.binding(a, b);
        if (binding) await userReleased(tx, binding.device, binding.user);
        return changes;
      })
      .finally(() => this.changed(...this.locals(a, b)));
  }

  /** The local device and the user (bare JID) of a binding (user–device relationship), if `a` and `b` form one. */
  private binding(a: string, b: string): { device: string; user: string } | undefined {
    if (a.startsWith('#') === b.startsWith('#')) return undefined;
    const [device, user] = a.startsWith('#') ? [a, b] : [b, a];
    const local = this.local(device);
    return local === undefined ? undefined : { device: local, user };
  }

  /** Name and groups of an existing or new item (RFC 6121 §2.3); the subscription is not the client's to set. */
  async setItem(
    owner: string,
    contact: string,
    name: string | null,
    groups: string[],
  ): Promise<RosterChange[]> {
    await this.db.query(
      `INSERT INTO roster (owner, contact, name, groups) VALUES ($1, $2, $3, $4)
       ON CONFLICT (owner, contact) DO UPDATE SET name = $3, groups = $4`,
      [owner, contact, name, JSON.stringify(groups)],
    );
    return [{ owner, item: (await this.item(this.db, owner, contact))! }];
  }

  /** An account removed by Message 5/6 disappears from every roster of the AS. */
  async forget(local: string): Promise<RosterChange[]> {
    // At once, not after the transaction: from here on the account is looked up again (and not found).
    this.changed(local);
    const contact = this.bare(local);
    const owners = await this.db.transaction(async (tx) => {
      const removed = await tx.query<{ owner: string }>(
        'DELETE FROM roster WHERE contact = $1 RETURNING owner',
        [contact],
      );
      await tx.query('DELETE FROM subscription_requests WHERE requester = $1', [contact]);
      // A removed user's rights and ownerships go with it (a removed device's go by cascade).
      await tx.query('DELETE FROM access_rights WHERE user_jid = $1', [contact]);
      await tx.query('DELETE FROM device_owners WHERE owner = $1', [contact]);
      return removed.rows.map((row) => row.owner);
    });
    this.changed(local, ...owners);
    return owners.map((owner) => ({ owner, item: { contact, subscription: 'remove' as const } }));
  }
}
