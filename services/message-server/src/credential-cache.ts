/**
 * The SCRAM credentials of this AS's accounts, read once per account instead of once per login (the lookup was a
 * third of a login's CPU on the embedded database). Messages 3–6 are the only writers of credentials and arrive at
 * this message server, which forgets the account after its write: a changed password applies at the next login, a
 * removed account cannot log in. Only what the database holds is cached (an unknown account is asked again), and
 * at most `MAX_ENTRIES`, the least recently used going first.
 *
 * Several message servers of one AS (not supported yet, docs/deploy.md) would each need to hear of the others'
 * writes before this cache may be used there.
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

  /** After Messages 3–6 changed or removed the account: the next login reads the database again. */
  forget(local: string): void {
    this.generation += 1;
    this.entries.delete(local);
  }
}
