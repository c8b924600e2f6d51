/**
 * The blocklists of XEP-0191 (Blocking Command), stored per account of this AS: the JIDs an account blocks — bare,
 * full or a whole domain — on top of the IRSP rule that unrelated accounts exchange nothing. Read where a stanza is
 * routed (the sender's message server, for either side's list), cached as the relationships are, and dropped on
 * every message server of the AS when a list changes (decision 0025).
 */
import type { Db } from '@irsp/store';
import { bareString, jidToString, parseJid, type Jid } from '@irsp/xmpp';

/** JIDs one account may block: a list the server reads per stanza stays small. */
export const MAX_BLOCKED = 1000;
/** Accounts whose blocklists are kept in memory; the oldest loaded is dropped first. */
const CACHED_OWNERS = 50_000;

export class BlockList {
  private readonly cache = new Map<string, ReadonlySet<string>>();
  /** Bumped when an owner's entry is dropped, so that a read that raced a change does not store stale rows. */
  private readonly generation = new Map<string, number>();
  private announce: ((owners: string[]) => void) | undefined;

  constructor(
    private readonly db: Db,
    private readonly domain: string,
  ) {}

  /** The JIDs `owner` (a local part) blocks, as stored (canonical JID strings). */
  async list(owner: string): Promise<ReadonlySet<string>> {
    const cached = this.cache.get(owner);
    if (cached) return cached;
    const before = this.generation.get(owner) ?? 0;
    const r = await this.db.query<{ jid: string }>(
      'SELECT jid FROM blocklist WHERE owner = $1 ORDER BY jid',
      [owner],
    );
    const set = new Set(r.rows.map((row) => row.jid));
    if ((this.generation.get(owner) ?? 0) === before) {
      if (this.cache.size >= CACHED_OWNERS) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(owner, set);
    }
    return set;
  }

  /** Whether `owner`'s list covers `jid`: the full JID, its bare JID, its domain with that resource, or its domain. */
  async blocks(owner: string, jid: Jid): Promise<boolean> {
    const list = await this.list(owner);
    if (list.size === 0) return false;
    return covering(jid).some((item) => list.has(item));
  }

  /**
   * Whether a stanza from `sender` to `target` is blocked, and by whom: `sender` when the sender is an account here
   * that blocks the target (XEP-0191 §3.5), `target` when the target is an account here that blocks the sender
   * (§3.4). Bare JID strings are accepted for either.
   */
  async between(sender: Jid | string, target: Jid | string): Promise<'sender' | 'target' | undefined> {
    const from = typeof sender === 'string' ? parseJid(sender) : sender;
    const to = typeof target === 'string' ? parseJid(target) : target;
    if (!from || !to) return undefined;
    if (this.isLocal(from) && (await this.blocks(from.local!, to))) return 'sender';
    if (this.isLocal(to) && (await this.blocks(to.local!, from))) return 'target';
    return undefined;
  }

  /** Adds JIDs; false (nothing stored) when the list would hold more than MAX_BLOCKED. */
  async add(owner: string, jids: string[]): Promise<boolean> {
    const stored = await this.db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`blocklist:${owner}`]);
      const r = await tx.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM blocklist WHERE owner = $1 AND NOT (jid = ANY($2::text[]))',
        [owner, jids],
      );
      if (r.rows[0]!.n + jids.length > MAX_BLOCKED) return false;
      await tx.query(
        'INSERT INTO blocklist (owner, jid) SELECT $1, unnest($2::text[]) ON CONFLICT (owner, jid) DO NOTHING',
        [owner, jids],
      );
      return true;
    });
    if (stored) this.changed(owner);
    return stored;
  }

  /** Removes these JIDs, or every one (`undefined`); returns the JIDs that were removed. */
  async remove(owner: string, jids: string[] | undefined): Promise<string[]> {
    const r =
      jids === undefined
        ? await this.db.query<{ jid: string }>('DELETE FROM blocklist WHERE owner = $1 RETURNING jid', [
            owner,
          ])
        : await this.db.query<{ jid: string }>(
            'DELETE FROM blocklist WHERE owner = $1 AND jid = ANY($2::text[]) RETURNING jid',
            [owner, jids],
          );
    this.changed(owner);
    return r.rows.map((row) => row.jid);
  }

  /** Tells the other message servers of the AS whose lists changed (decision 0024). */
  announceChanges(announce: (owners: string[]) => void): void {
    this.announce = announce;
  }

  private changed(owner: string): void {
    this.drop([owner]);
    this.announce?.([owner]);
  }

  /** Drops what is cached of these owners (changed here, or announced by another message server). */
  drop(owners: Iterable<string>): void {
    for (const owner of owners) {
      this.cache.delete(owner);
      this.generation.set(owner, (this.generation.get(owner) ?? 0) + 1);
    }
  }

  dropAll(): void {
    this.drop([...this.cache.keys()]);
  }

  private isLocal(jid: Jid): boolean {
    return jid.local !== undefined && jid.domain === this.domain;
  }
}

/** The blocklist items that cover `jid` (XEP-0191 §3.1 matches as XEP-0016 §2.1 does). */
function covering(jid: Jid): string[] {
  const items = [jidToString(jid), bareString(jid), jid.domain];
  if (jid.resource !== undefined) items.push(`${jid.domain}/${jid.resource}`);
  return [...new Set(items)];
}
