/**
 * The SCRAM credentials of this AS's accounts, read once per account instead of once per login (the lookup was a
 * third of a login's CPU on the embedded database). Messages 3–6 are the only writers of credentials and arrive at
 * this message server, which forgets the account after its write: a changed password applies at the next login, a
 * removed account cannot log in. Only what the database holds is cached (an unknown account is asked again), and
 * at most `MAX_ENTRIES`, the least recently used going first.
 *
 * In a cluster (decision 0024) the write's server tells the other message servers of the AS, which forget it too.
 */
import type { ScramCredential, ScramHash } from '@irsp/credentials';
import type { Db } from '@irsp/store';

const MAX_ENTRIES = 50_000;

interface Entry {
  sha1: ScramCredential;
  sha256: ScramCredential;
}

export class CredentialCache {
  private readonly entries = new Map<string, Entry>();
  /** Bumped by every `forget`: a lookup that read the database before a write must not store what it read. */
  private generation = 0;
  private announce: ((local: string) => void) | undefined;

  constructor(private readonly db: Db) {}

  /** The credential of an existing account (canonical local part), or undefined. */
  async get(local: string, hash: ScramHash): Promise<ScramCredential | undefined> {
    let entry = this.entries.get(local);
    if (entry) {
      // Most recently used last: Map keeps insertion order, so the first key is the eviction candidate.
      this.entries.delete(local);
      this.entries.set(local, entry);
      return entry[hash];
    }
    const generation = this.generation;
    const result = await this.db.query<Entry>(
      'SELECT scram_sha1 AS sha1, scram_sha256 AS sha256 FROM accounts WHERE local_part = $1',
      [local],
    );
    entry = result.rows[0];
    if (!entry) return undefined;
    if (generation === this.generation) {
      this.entries.set(local, entry);
      if (this.entries.size > MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value!);
    }
    return entry[hash];
  }

  /** After Messages 3–6 changed or removed the account: the next login reads the database again, on every server. */
  forget(local: string): void {
    this.drop(local);
    this.announce?.(local);
  }

  /** Forgets the account here only (a write through another message server of the AS). */
  drop(local: string): void {
    this.generation += 1;
    this.entries.delete(local);
  }

  /** Forgets every account (writes announced while the cluster bus was out of reach were missed). */
  clear(): void {
    this.generation += 1;
    this.entries.clear();
  }

  /** Tells the other message servers of the AS which account's credentials changed. */
  announceChanges(announce: (local: string) => void): void {
    this.announce = announce;
  }
}
