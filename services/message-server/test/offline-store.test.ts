import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadMigrations, migrate, openTestDb, type Db } from '@irsp/store';
import { OfflineStore } from '../src/xmpp/offline.js';

let db: Db;

beforeAll(async () => {
  db = await openTestDb('msoff');
  await migrate(db, await loadMigrations(new URL('../migrations/', import.meta.url)));
  await db.query(
    `INSERT INTO accounts (local_part, kind, scram_sha1, scram_sha256) VALUES ('grace', 'user', '{}', '{}'), ('heidi', 'user', '{}', '{}')`,
  );
});

afterAll(async () => {
  await db?.close();
});

describe('OfflineStore', () => {
  it('keeps messages until their expiry, then neither delivers nor counts them', async () => {
    const shortLived = new OfflineStore(db, { maxPerRecipient: 2, ttlMs: 50 });
    expect(await shortLived.store('grace', '<message/>')).toBe(true);
    expect(await shortLived.store('grace', '<message/>')).toBe(true);
    expect(await shortLived.store('grace', '<message/>')).toBe(false);
    await new Promise((r) => setTimeout(r, 100));
    // Expired messages no longer count against the limit…
    expect(await shortLived.store('heidi', '<message id="h"/>')).toBe(true);
    expect(await shortLived.store('grace', '<message id="g"/>')).toBe(true);
    await new Promise((r) => setTimeout(r, 100));
    // …and the hourly sweep removes every expired one.
    expect(await shortLived.expire()).toBe(4);
    expect((await db.query('SELECT id FROM offline_messages')).rows).toEqual([]);
  });

  it('never stores more than the limit for concurrent senders', async () => {
    await db.query(
      `INSERT INTO accounts (local_part, kind, scram_sha1, scram_sha256) VALUES ('ivan', 'user', '{}', '{}')`,
    );
    const store = new OfflineStore(db, { maxPerRecipient: 5, ttlMs: 60_000 });
    const outcomes = await Promise.all(Array.from({ length: 20 }, () => store.store('ivan', '<message/>')));
    expect(outcomes.filter(Boolean)).toHaveLength(5);
    expect(await store.pending('ivan')).toHaveLength(5);
    await store.delivered((await store.pending('ivan')).map((m) => m.id));
  });

  it('messages handed over together are written together, in order, up to the limit of each recipient', async () => {
    await db.query(
      `INSERT INTO accounts (local_part, kind, scram_sha1, scram_sha256) VALUES ('judy', 'user', '{}', '{}'), ('karl', 'user', '{}', '{}')`,
    );
    const store = new OfflineStore(db, { maxPerRecipient: 3, ttlMs: 60_000 });
    const handed = Array.from({ length: 8 }, (_, i) => ({
      owner: i % 2 ? 'karl' : 'judy',
      stanza: `<message id="${i}"/>`,
    }));
    // Not awaited one by one: a sender does not wait for each commit.
    const outcomes = handed.map((m) => store.store(m.owner, m.stanza));
    // pending() first waits for what is still on its way to the database.
    expect((await store.pending('judy')).map((m) => m.stanza)).toEqual([
      '<message id="0"/>',
      '<message id="2"/>',
      '<message id="4"/>',
    ]);
    expect(await Promise.all(outcomes)).toEqual([true, true, true, true, true, true, false, false]);
    expect((await store.pending('karl')).map((m) => m.stanza)).toEqual([
      '<message id="1"/>',
      '<message id="3"/>',
      '<message id="5"/>',
    ]);
    for (const owner of ['judy', 'karl'])
      await store.delivered((await store.pending(owner)).map((m) => m.id));
  });

  it('delivers oldest first and forgets only what was delivered', async () => {
    const store = new OfflineStore(db, { maxPerRecipient: 10, ttlMs: 60_000 });
    for (const id of ['a', 'b', 'c']) await store.store('heidi', `<message id='${id}'/>`);
    const pending = await store.pending('heidi');
    expect(pending.map((m) => m.stanza)).toEqual([
      "<message id='a'/>",
      "<message id='b'/>",
      "<message id='c'/>",
    ]);
    await store.delivered(pending.slice(0, 2).map((m) => m.id));
    expect((await store.pending('heidi')).map((m) => m.stanza)).toEqual(["<message id='c'/>"]);
  });
});
