import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadMigrations, migrate, openTestDb, type Db, type Executor } from '@irsp/store';
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
    // Handed over together (one statement, one now()), so none can expire before the third is refused.
    expect(await Promise.all([1, 2, 3].map(() => shortLived.store('grace', '<message/>')))).toEqual([
      true,
      true,
      false,
    ]);
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

  it('writes the messages handed over in one turn of the event loop with one statement', async () => {
    await db.query(
      `INSERT INTO accounts (local_part, kind, scram_sha1, scram_sha256) VALUES ('liam', 'user', '{}', '{}'), ('mona', 'user', '{}', '{}')`,
    );
    // Counts the statements that write: on PostgreSQL the lock and the insert run in one transaction.
    let statements = 0;
    const counting = (executor: Executor): Executor => ({
      query: (sql, params) => {
        if (/offline_messages/.test(sql)) statements += 1;
        return executor.query(sql, params);
      },
      exec: (sql) => executor.exec(sql),
    });
    const spied: Db = {
      ...db,
      kind: db.kind,
      schema: db.schema,
      query: (sql, params) => counting(db).query(sql, params),
      transaction: (fn) => db.transaction((tx) => fn(counting(tx))),
    };
    const store = new OfflineStore(spied, { maxPerRecipient: 2, ttlMs: 60_000 });
    // A socket's read hands its stanzas over one after the other, some after a few awaits of their own.
    const outcomes = [store.store('liam', '<message id="1"/>')];
    await Promise.resolve();
    outcomes.push(store.store('mona', '<message id="2"/>'), store.store('liam', '<message id="3"/>'));
    await Promise.resolve();
    outcomes.push(store.store('liam', '<message id="4"/>'));
    expect(await Promise.all(outcomes)).toEqual([true, true, true, false]);
    expect(statements).toBe(1);
    expect((await store.pending('liam')).map((m) => m.stanza)).toEqual([
      '<message id="1"/>',
      '<message id="3"/>',
    ]);
    expect((await store.pending('mona')).map((m) => m.stanza)).toEqual(['<message id="2"/>']);
    for (const owner of ['liam', 'mona'])
      await store.delivered((await store.pending(owner)).map((m) => m.id));
  });

  it('two stores on one database (message servers sharing it) keep the limit together', async () => {
    await db.query(
      `INSERT INTO accounts (local_part, kind, scram_sha1, scram_sha256) VALUES ('nina', 'user', '{}', '{}')`,
    );
    const limits = { maxPerRecipient: 7, ttlMs: 60_000 };
    const [a, b] = [new OfflineStore(db, limits), new OfflineStore(db, limits)];
    // On PostgreSQL, open pooled connections first, so that both stores' statements run at the same time.
    await Promise.all([1, 2].map(() => db.query('SELECT pg_sleep(0.02)')));
    const outcomes = await Promise.all(
      Array.from({ length: 10 }, (_, i) => [
        a.store('nina', `<a n="${i}"/>`),
        b.store('nina', `<b n="${i}"/>`),
      ]).flat(),
    );
    expect(outcomes.filter(Boolean)).toHaveLength(7);
    const pending = await a.pending('nina');
    expect(pending).toHaveLength(7);
    // Each store keeps its own order.
    for (const prefix of ['<a', '<b']) {
      const mine = pending.map((m) => m.stanza).filter((s) => s.startsWith(prefix));
      expect(mine).toEqual([...mine].sort((x, y) => Number(/\d+/.exec(x)![0]) - Number(/\d+/.exec(y)![0])));
    }
    await a.delivered(pending.map((m) => m.id));
  });

  it('neither answers nor keeps expired messages when the recipient comes online', async () => {
    await db.query(
      `INSERT INTO accounts (local_part, kind, scram_sha1, scram_sha256) VALUES ('olga', 'user', '{}', '{}')`,
    );
    const shortLived = new OfflineStore(db, { maxPerRecipient: 5, ttlMs: 50 });
    expect(await shortLived.store('olga', '<message id="old"/>')).toBe(true);
    await new Promise((r) => setTimeout(r, 100));
    const lasting = new OfflineStore(db, { maxPerRecipient: 5, ttlMs: 60_000 });
    expect(await lasting.store('olga', '<message id="new"/>')).toBe(true);
    expect((await lasting.pending('olga')).map((m) => m.stanza)).toEqual(['<message id="new"/>']);
    expect(
      (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM offline_messages WHERE owner = 'olga'`))
        .rows,
    ).toEqual([{ n: 1 }]);
    await lasting.delivered((await lasting.pending('olga')).map((m) => m.id));
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
