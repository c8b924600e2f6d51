import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { migrate, openDb } from '../src/index.js';

// Always PGlite, whatever DATABASE_URL says.
describe('PGlite data directory', () => {
  let root: string;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'irsp-store-pglite-'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('creates the directory, persists across close and reopen, and locks it while open', async () => {
    const dataDir = join(root, 'nested', 'data');
    const migrations = [
      { version: 1, name: 'init', sql: 'CREATE TABLE kv (k text PRIMARY KEY, v jsonb NOT NULL);' },
    ];

    const first = await openDb({ dataDir, schema: 'svc' });
    expect(first.kind).toBe('pglite');
    expect(await migrate(first, migrations)).toBe(1);
    await first.query('INSERT INTO kv VALUES ($1, $2)', ['a', JSON.stringify({ n: 1 })]);

    // A second instance on the same directory would silently diverge: refused while the first is open.
    await expect(openDb({ dataDir, schema: 'svc' })).rejects.toThrow(
      `PGlite data directory ${dataDir} is in use by process ${process.pid}`,
    );
    await first.close();

    const second = await openDb({ dataDir, schema: 'svc' });
    try {
      expect(await migrate(second, migrations)).toBe(0);
      expect((await second.query('SELECT k, v FROM kv')).rows).toEqual([{ k: 'a', v: { n: 1 } }]);
      expect((await second.query("SELECT current_setting('search_path') AS p")).rows).toEqual([{ p: 'svc' }]);
    } finally {
      await second.close();
    }
  });

  it('takes over a lock file left by a process that is gone', async () => {
    const dataDir = join(root, 'stale');
    const db = await openDb({ dataDir, schema: 'svc' });
    await db.close();
    const lock = join(dataDir, 'irsp-store.lock');
    // Same pid, another process start time: what a container restarted as pid 1 finds.
    await writeFile(lock, JSON.stringify({ pid: process.pid, origin: 1, token: 'old' }));
    const again = await openDb({ dataDir, schema: 'svc' });
    expect(JSON.parse(await readFile(lock, 'utf8'))).toMatchObject({
      pid: process.pid,
      origin: performance.timeOrigin,
    });
    await again.close();
    await expect(readFile(lock)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
