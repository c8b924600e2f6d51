/**
 * The credential cache against a scripted database: what it reads, what it keeps, and the write that lands while
 * a lookup is reading (the login integration tests cover Messages 3–6 end to end).
 */
import { describe, expect, it } from 'vitest';
import type { ScramCredential } from '@irsp/credentials';
import type { Db } from '@irsp/store';
import { CredentialCache } from '../src/credential-cache.js';

const credential = (salt: string): ScramCredential => ({
  iterations: 4096,
  salt,
  storedKey: `stored-${salt}`,
  serverKey: `server-${salt}`,
});

/** A database whose rows the test sets and whose answers it may hold back; it counts the queries. */
function scriptedDb() {
  const rows = new Map<string, { sha1: ScramCredential; sha256: ScramCredential }>();
  const held: (() => void)[] = [];
  const state = { queries: 0, hold: false };
  const db = {
    async query(_sql: string, params: unknown[]) {
      state.queries += 1;
      const row = rows.get(params[0] as string); // read now, as a statement would
      if (state.hold) await new Promise<void>((resolve) => held.push(resolve));
      return { rows: row ? [row] : [], rowCount: row ? 1 : 0 };
    },
  } as unknown as Db;
  return { db, rows, held, state };
}

describe('CredentialCache', () => {
  it('reads an account once and answers either hash from what it read', async () => {
    const { db, rows, state } = scriptedDb();
    rows.set('alice', { sha1: credential('a1'), sha256: credential('a256') });
    const cache = new CredentialCache(db);
    expect(await cache.get('alice', 'sha1')).toEqual(credential('a1'));
    expect(await cache.get('alice', 'sha256')).toEqual(credential('a256'));
    expect(await cache.get('alice', 'sha1')).toEqual(credential('a1'));
    expect(state.queries).toBe(1);
  });

  it('does not remember an unknown account: one registered later logs in', async () => {
    const { db, rows, state } = scriptedDb();
    const cache = new CredentialCache(db);
    expect(await cache.get('bob', 'sha1')).toBeUndefined();
    rows.set('bob', { sha1: credential('b1'), sha256: credential('b256') });
    expect(await cache.get('bob', 'sha1')).toEqual(credential('b1'));
    expect(state.queries).toBe(2);
  });

  it('forget makes the next lookup read the changed row', async () => {
    const { db, rows } = scriptedDb();
    rows.set('alice', { sha1: credential('old'), sha256: credential('old') });
    const cache = new CredentialCache(db);
    await cache.get('alice', 'sha1');
    rows.set('alice', { sha1: credential('new'), sha256: credential('new') });
    expect(await cache.get('alice', 'sha1')).toEqual(credential('old'));
    cache.forget('alice');
    expect(await cache.get('alice', 'sha1')).toEqual(credential('new'));
    rows.delete('alice');
    cache.forget('alice');
    expect(await cache.get('alice', 'sha1')).toBeUndefined();
  });

  it('a lookup that read the row before a write does not store it: the write wins at the next login', async () => {
    const { db, rows, held, state } = scriptedDb();
    rows.set('alice', { sha1: credential('old'), sha256: credential('old') });
    const cache = new CredentialCache(db);
    state.hold = true;
    const reading = cache.get('alice', 'sha1');
    await expect.poll(() => held.length).toBe(1);
    // Message 3 commits and forgets while that lookup is still on its way back.
    rows.set('alice', { sha1: credential('new'), sha256: credential('new') });
    cache.forget('alice');
    held.shift()!();
    expect(await reading).toEqual(credential('old')); // the login that was under way finishes as it began
    state.hold = false;
    expect(await cache.get('alice', 'sha1')).toEqual(credential('new'));
    expect(state.queries).toBe(2);
  });
});
