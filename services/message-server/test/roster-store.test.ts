/** RosterStore on its own: both sides of many pairs approving at once (on PostgreSQL this once deadlocked). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadMigrations, migrate, openTestDb, type Db } from '@irsp/store';
import { RosterStore } from '../src/xmpp/roster.js';

const DOMAIN = 'as1.irsp.test';
let db: Db;

beforeAll(async () => {
  db = await openTestDb('msroster');
  await migrate(db, await loadMigrations(new URL('../migrations/', import.meta.url)));
  for (let i = 0; i < 20; i++) {
    await db.query(
      `INSERT INTO accounts (local_part, kind, scram_sha1, scram_sha256) VALUES ($1, 'user', '{}', '{}')`,
      [`u${i}`],
    );
  }
});

afterAll(async () => {
  await db?.close();
});

describe('RosterStore', () => {
  it('establishes every pair when both sides request and approve at the same time', async () => {
    const roster = new RosterStore(db, DOMAIN);
    const pairs = Array.from({ length: 10 }, (_, i) => [`u${2 * i}@${DOMAIN}`, `u${2 * i + 1}@${DOMAIN}`]);
    await Promise.all(pairs.flatMap(([a, b]) => [roster.request(a!, b!), roster.request(b!, a!)]));
    await Promise.all(pairs.flatMap(([a, b]) => [roster.establish(a!, b!), roster.establish(b!, a!)]));
    for (const [a, b] of pairs) {
      expect(await roster.related(roster.local(a!)!, b!)).toBe(true);
      expect(await roster.related(roster.local(b!)!, a!)).toBe(true);
    }
    await Promise.all(pairs.flatMap(([a, b]) => [roster.release(a!, b!), roster.release(b!, a!)]));
    expect(await roster.related('u0', `u1@${DOMAIN}`)).toBe(false);
  });
});
