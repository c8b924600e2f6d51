/**
 * The shared guessing policy on the message server's database: attempts admitted in parallel (many streams, many
 * servers) cannot pass their limit before any of them is counted, and a right attempt is not a failure.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_GUESSING } from '@irsp/config';
import { GuessPolicy } from '@irsp/credentials';
import { loadMigrations, migrate, openTestDb, type Db } from '@irsp/store';

let db: Db;
const now = () => Date.UTC(2026, 11, 7, 3, 0, 0);

beforeAll(async () => {
  db = await openTestDb('msguess');
  await migrate(db, await loadMigrations(new URL('../migrations/', import.meta.url)));
});

afterAll(async () => {
  await db?.close();
});

describe('GuessPolicy', () => {
  it('admits exactly perPair of 40 attempts made at once by one source on one target', async () => {
    // Two policies stand for two message servers: each has its own back-off, the database is shared.
    const servers = [0, 1].map(() => new GuessPolicy('password', DEFAULT_GUESSING.passwords, db, now));
    const verdicts = await Promise.all(
      Array.from({ length: 40 }, (_, i) => servers[i % 2]!.admit('alice', '192.0.2.1')),
    );
    expect(verdicts.filter((v) => v.allowed)).toHaveLength(10);
    expect(
      verdicts.filter((v) => !v.allowed).map((v) => (v.allowed ? undefined : [v.limit, v.retryAfterMs])),
    ).toEqual(Array(30).fill(['pair', 3_600_000]));
  });

  it('a right attempt is not counted, and makes its source known for the target', async () => {
    const policy = new GuessPolicy('password', DEFAULT_GUESSING.passwords, db, now);
    const first = await policy.admit('bob', '192.0.2.2');
    expect(first).toMatchObject({ allowed: true, known: false });
    if (first.allowed) await policy.succeeded(first.ticket);
    const rows = await db.query(`SELECT source FROM guess_failures WHERE target = 'bob'`);
    expect(rows.rows).toEqual([]);
    const second = await policy.admit('bob', '192.0.2.2');
    expect(second).toMatchObject({ allowed: true, known: true });
  });

  it('a known source expires after knownForMs and is forgotten; failures out of the window are deleted', async () => {
    let at = now();
    const policy = new GuessPolicy('password', DEFAULT_GUESSING.passwords, db, () => at);
    const admit = async (source: string) => {
      const verdict = await policy.admit('carol', source);
      if (!verdict.allowed) throw new Error('refused');
      return verdict;
    };
    await policy.succeeded((await admit('192.0.2.3')).ticket);
    await policy.failed((await admit('192.0.2.4')).ticket);
    at += DEFAULT_GUESSING.passwords.limits.knownForMs; // 30 days later: 192.0.2.3 is no longer known
    expect(await admit('192.0.2.3')).toMatchObject({ known: false });
    const another = await admit('192.0.2.5');
    await policy.succeeded(another.ticket);
    const known = await db.query(
      `SELECT source FROM guess_known_sources WHERE target = 'carol' ORDER BY source`,
    );
    expect(known.rows).toEqual([{ source: '192.0.2.5' }]);
    const failing = await admit('192.0.2.6');
    await policy.failed(failing.ticket);
    const failures = await db.query(
      `SELECT source FROM guess_failures WHERE target = 'carol' ORDER BY source`,
    );
    // The 30-day-old failure of .4 is gone; .3's attempt above is still counted (never settled), .6's is new.
    expect(failures.rows).toEqual([{ source: '192.0.2.3' }, { source: '192.0.2.6' }]);
  });
});
